"""The OpenAPI 3.1 description served at /openapi.json.

Request, response, feedback and discovery bodies are the JSON Schemas the service itself
validates with (src/cds/schemas/, local references inlined), so the description cannot drift
from what the service accepts and answers. OpenAPI 3.1 uses JSON Schema 2020-12 as is.
"""

from __future__ import annotations

import copy
from typing import Any

from cds import __version__
from cds.schemas import validator_for

_ERRORS = {
    "400": "The body is not a valid request; the OperationOutcome names the field",
    "401": "Authentication failed (JWT mode, or a token sent in open mode that does not verify)",
    "403": "A card the feedback names was issued to another EHR (issuer or tenant); nothing was stored",
    "404": "No service with this id",
    "408": "The body did not arrive whole within the client deadlines",
    "413": "The body, one prefetch key, or the number of feedback items is over its limit",
    "415": "The body is not JSON",
}


def _schema(name: str) -> dict[str, Any]:
    schema = copy.deepcopy(validator_for(name).schema)
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    return schema


def _discovery_service() -> dict[str, Any]:
    """A discovery entry: the definition file's fields without the private `myelin` block."""
    schema = _schema("service-definition")
    schema["title"] = "CDS Service (discovery)"
    schema["description"] = "One service as discovery lists it (CDS Hooks 2.0.1, Discovery)."
    schema["properties"].pop("myelin", None)
    schema["required"] = [field for field in schema["required"] if field != "myelin"]
    schema["properties"]["extension"] = {
        "type": "object",
        "description": "CDS Hooks extensions; `io.github.myelin-cds.topic-modes` maps each topic the"
        " service can return to its mode at this site (active, silent or off).",
    }
    return schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(name)}}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: {"description": _ERRORS[code], "content": _json("OperationOutcome")} for code in codes}


def _service_id() -> dict[str, Any]:
    return {
        "name": "service_id",
        "in": "path",
        "required": True,
        "description": "A service id from discovery",
        "schema": {"type": "string"},
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "myelin-cds",
            "version": __version__,
            "summary": "CDS Hooks 2.0 service: facial twitching and its nutritional and electrolyte causes",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "security": [{"ehrJwt": []}, {}],  # {}: open mode accepts calls without a token
        "paths": {
            "/cds-services": {
                "get": {
                    "operationId": "discovery",
                    "summary": "The services and their prefetch templates",
                    "responses": {
                        "200": {"description": "Discovery", "content": _json("Discovery")},
                        **_errors("401"),
                    },
                }
            },
            "/cds-services/{service_id}": {
                "post": {
                    "operationId": "callService",
                    "summary": "Call a service with a hook request; answers cards",
                    "parameters": [_service_id()],
                    "requestBody": {"required": True, "content": _json("HookRequest")},
                    "responses": {
                        "200": {"description": "Cards (possibly none)", "content": _json("ServiceResponse")},
                        **_errors("400", "401", "404", "408", "413", "415"),
                        "412": {
                            "description": "Required prefetch data is missing and could not be fetched",
                            "content": _json("OperationOutcome"),
                        },
                    },
                }
            },
            "/cds-services/{service_id}/feedback": {
                "post": {
                    "operationId": "feedback",
                    "summary": "Report what the clinician did with cards; all items are stored or none",
                    "parameters": [_service_id()],
                    "requestBody": {"required": True, "content": _json("Feedback")},
                    "responses": {
                        "200": {"description": "Stored", "content": _json("FeedbackReceived")},
                        **_errors("400", "401", "403", "404", "408", "413", "415"),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness, version and security mode",
                    "security": [{}],
                    "responses": {"200": {"description": "Up", "content": _json("Health")}},
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics (unless turned off or moved to metrics_port)",
                    "security": [{}],
                    "responses": {
                        "200": {"description": "Prometheus text format", "content": {"text/plain": {}}},
                        "404": {"description": "Metrics are off or served on another port"},
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This description",
                    "security": [{}],
                    "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "ehrJwt": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A JWT signed by a trusted EHR, `aud` the URL called (docs/security.md)",
                }
            },
            "schemas": {
                "HookRequest": _schema("hook-request"),
                "ServiceResponse": _schema("response"),
                "Feedback": _schema("feedback"),
                "DiscoveryService": _discovery_service(),
                "Discovery": {
                    "type": "object",
                    "required": ["services"],
                    "properties": {
                        "services": {"type": "array", "items": _ref("DiscoveryService")},
                    },
                },
                "FeedbackReceived": {
                    "type": "object",
                    "required": ["received"],
                    "properties": {"received": {"type": "integer", "minimum": 0}},
                },
                "Health": {
                    "type": "object",
                    "required": ["status", "version", "services", "authMode", "acceptsUnauthenticatedCalls"],
                    "properties": {
                        "status": {"const": "ok"},
                        "version": {"type": "string"},
                        "services": {"type": "array", "items": {"type": "string"}},
                        "authMode": {"enum": ["open", "jwt"]},
                        "acceptsUnauthenticatedCalls": {"type": "boolean"},
                    },
                },
                "OperationOutcome": {
                    "type": "object",
                    "description": "FHIR R4 OperationOutcome: what was wrong, never a stack trace",
                    "required": ["resourceType", "issue"],
                    "properties": {
                        "resourceType": {"const": "OperationOutcome"},
                        "issue": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["severity", "code"],
                                "properties": {
                                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                                    "code": {"type": "string"},
                                    "diagnostics": {"type": "string"},
                                    "expression": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                        },
                    },
                },
            },
        },
    }
