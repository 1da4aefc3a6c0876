"""The companion app's routes: the launch page, the app page, its static files, its JSON API.

Registered only when the site has registered the app (`smart_client_id`); otherwise every
`/app/` URL is the service's usual 404. The pages are static HTML with their settings in a
`data-config` attribute, ES modules and one stylesheet, all from this origin; the access
token stays in the browser and never reaches these routes.
"""

from __future__ import annotations

import html
import json
import string
from importlib import resources
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, request, url_for

from cds.answer.runtime import knowledge_for
from cds.companion.chart_request import parse_chart_request
from cds.companion.chart_view import chart_view, observation_codes
from cds.companion.policy import content_security_policy, iss_allowed
from cds.config import Settings
from cds.errors import NotFound
from cds.http.request import parse_json

STATIC = {
    "app.css": "text/css",
    "launch.js": "text/javascript",
    "app.js": "text/javascript",
    "smart.js": "text/javascript",
    "chart.js": "text/javascript",
    "views.js": "text/javascript",
}
MAX_LAUNCH_CHARS = 4096

# SMART v2 scopes; v1 spellings are sent when the server does not advertise permission-v2.
READ_SCOPES = {
    "Patient": ("patient/Patient.r", "patient/Patient.read"),
    "Observation": ("patient/Observation.rs", "patient/Observation.read"),
    "MedicationRequest": ("patient/MedicationRequest.rs", "patient/MedicationRequest.read"),
    "MedicationStatement": ("patient/MedicationStatement.rs", "patient/MedicationStatement.read"),
    "Condition": ("patient/Condition.rs", "patient/Condition.read"),
}
IDENTITY_SCOPES = ("openid", "fhirUser")


def _template(name: str) -> string.Template:
    return string.Template(resources.files(__package__).joinpath("pages", name).read_text("utf-8"))


def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def _state() -> Any:
    return current_app.extensions["cds"]


def _page(name: str, status: int = 200, **values: str) -> Response:
    text = _template(name).substitute(
        css=html.escape(url_for("companion.static_file", name="app.css")),
        **{key: html.escape(value, quote=True) for key, value in values.items()},
    )
    return Response(text, status=status, mimetype="text/html")


# Launch requests refused before anything is sent anywhere: status, title, what happened, what to do.
REFUSALS = {
    "no-iss": (
        400,
        "Open the app from the patient's chart",
        "This page was opened without the FHIR server it should read from (no 'iss' parameter).",
        "Open the app from a card or the apps menu of the patient's chart in the EHR. To start it "
        "on its own, add ?iss= and the FHIR server's base URL to this page's address.",
    ),
    "iss-not-allowed": (
        403,
        "This FHIR server is not permitted",
        "The app was asked to read from {iss}, which is not on this site's list of servers the app "
        "may use. Nothing was sent to it and you were not sent to sign in there.",
        "If you opened the app from your EHR, tell your EHR administrator: the server has to be added "
        "to the setting smart_allowed_servers. Do not sign in on a page this link leads to.",
    ),
    "bad-launch": (
        400,
        "The EHR's launch request is unusable",
        f"The 'launch' parameter is empty or longer than {MAX_LAUNCH_CHARS} characters.",
        "Open the app again from the patient's chart; if this happens again, tell your EHR administrator.",
    ),
}


def _refused(kind: str, **values: str) -> Response:
    status, title, what, todo = REFUSALS[kind]
    return _page("refused.html", status, title=title, kind=kind, what=what.format(**values), todo=todo)


def _config(settings: Settings, **extra: Any) -> str:
    state = _state()
    config = {
        "clientId": settings.smart_client_id,
        "redirectUri": state.base_url() + "/app/",
        "allowedServers": list(settings.smart_allowed_servers),
        "timeoutMs": int(settings.smart_fhir_timeout_s * 1000),
        **extra,
    }
    return json.dumps(config, separators=(",", ":"))


def companion_blueprint(settings: Settings) -> Blueprint:
    blueprint = Blueprint("companion", __name__)
    policy = content_security_policy(settings)

    @blueprint.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"  # the page URL may still hold a code
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @blueprint.get("/app/launch")
    def launch() -> Response:
        iss = request.args.get("iss", "")
        launch_id = request.args.get("launch")
        if not iss:
            return _refused("no-iss")
        if not iss_allowed(iss, settings):
            return _refused("iss-not-allowed", iss=iss[:200])
        if launch_id is not None and not (0 < len(launch_id) <= MAX_LAUNCH_CHARS):
            return _refused("bad-launch")
        scopes = {
            "v2": list(IDENTITY_SCOPES) + [v2 for v2, _v1 in READ_SCOPES.values()],
            "v1": list(IDENTITY_SCOPES) + [v1 for _v2, v1 in READ_SCOPES.values()],
        }
        config = _config(settings, iss=iss, launch=launch_id, scopes=scopes)
        return _page("launch.html", config=config, script=url_for("companion.static_file", name="launch.js"))

    @blueprint.get("/app/")
    def app_page() -> Response:
        knowledge = knowledge_for(settings)
        config = _config(settings, loincs=observation_codes(knowledge), chartUrl=url_for("companion.chart"))
        return _page("app.html", config=config, script=url_for("companion.static_file", name="app.js"))

    @blueprint.get("/app/static/<name>")
    def static_file(name: str) -> Response:
        if name not in STATIC:
            raise NotFound(f"no companion app file '{name[:100]}'")
        response = Response(_asset(name), mimetype=STATIC[name])
        response.headers["Cache-Control"] = "no-cache"
        return response

    @blueprint.post("/app/api/chart")
    def chart() -> Response:
        state = _state()
        # the hook route's limits: size, charset, depth, deadline
        data = parse_json(state.read_body(), max_depth=settings.max_json_depth)
        chart_request = parse_chart_request(data, settings.max_resources_per_key)
        service = _patient_view_service(state)
        view = chart_view(
            chart_request, now=state.clock(), settings=settings, base_url=state.base_url(), service=service
        )
        return Response(orjson.dumps(view), content_type="application/json")

    return blueprint


def _patient_view_service(state: Any) -> Any:
    """The loaded service whose cards the app lists: the patient-view guideline service."""
    for service in state.services.values():
        if service.hook == "patient-view" and service.handler == "guideline":
            return service
    raise NotFound("no patient-view guideline service is loaded: the app has no findings to list")
