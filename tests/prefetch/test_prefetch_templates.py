"""Pure parts: template tokens and the token allow-list."""

from __future__ import annotations

import pytest

from cds.config import IssuerConfig, load_settings
from cds.fhir.client import Origin, parse_origin, server_allowed
from cds.fhir.prefetch import TemplateError, fill_template

DEFAULT_ALLOWED = load_settings(environ={}).fhir_allowed_servers  # open mode's default


def test_context_token_is_filled() -> None:
    assert fill_template("Patient/{{context.patientId}}", {"patientId": "p-1.a"}) == "Patient/p-1.a"


def test_filled_values_are_url_encoded_so_they_cannot_add_parameters() -> None:
    filled = fill_template("Condition?patient={{context.patientId}}", {"patientId": "p1&code=x/y"})
    assert filled == "Condition?patient=p1%26code%3Dx%2Fy"


def test_several_tokens_and_spaces_inside_braces() -> None:
    filled = fill_template(
        "Encounter?patient={{ context.patientId }}&_id={{context.encounterId}}",
        {"patientId": "p1", "encounterId": "e9"},
    )
    assert filled == "Encounter?patient=p1&_id=e9"


@pytest.mark.parametrize(
    ("token", "user", "expected"),
    [
        ("userPractitionerId", "Practitioner/123", "123"),
        ("userPractitionerRoleId", "PractitionerRole/r7", "r7"),
        ("userPatientId", "Patient/p9", "p9"),
        ("userRelatedPersonId", "RelatedPerson/rp2", "rp2"),
    ],
)
def test_user_tokens_come_from_user_id(token: str, user: str, expected: str) -> None:
    assert fill_template(f"X?u={{{{{token}}}}}", {"userId": user}) == f"X?u={expected}"


def test_user_token_of_another_kind_of_user_cannot_be_filled() -> None:
    with pytest.raises(TemplateError, match="needs a Patient user"):
        fill_template("Patient/{{userPatientId}}", {"userId": "Practitioner/123"})


def test_practitioner_role_user_does_not_fill_practitioner_token() -> None:
    with pytest.raises(TemplateError):
        fill_template("Practitioner/{{userPractitionerId}}", {"userId": "PractitionerRole/9"})


@pytest.mark.parametrize(
    ("template", "context", "message"),
    [
        ("Patient/{{context.encounterId}}", {"patientId": "p1"}, "no 'encounterId'"),
        ("X?d={{context.draftOrders}}", {"draftOrders": {"resourceType": "Bundle"}}, "not a single value"),
        ("X?d={{today()}}", {}, "not supported"),
        ("X?d={{context.patientId}", {"patientId": "p1"}, "malformed"),
    ],
)
def test_unfillable_templates_say_why(template: str, context: dict, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        fill_template(template, context)


@pytest.mark.parametrize(
    "server",
    [
        "http://127.0.0.1:8081/fhir",
        "http://localhost:8081",
        "http://LOCALHOST:8081/r4",
        "http://[::1]:8081/fhir",
    ],
)
def test_open_mode_allows_one_loopback_port_by_default(server: str) -> None:
    origin = parse_origin(server)
    assert origin is not None
    assert server_allowed(origin, DEFAULT_ALLOWED)


@pytest.mark.parametrize(
    "server",
    ["http://127.0.0.1:8080/fhir", "http://localhost:3000", "http://[::1]:9000/fhir", "http://127.0.0.1/"],
)
def test_other_loopback_ports_are_not_allowed_by_default(server: str) -> None:
    # Not every port: an open service would tell its callers which local ports answer.
    origin = parse_origin(server)
    assert origin is not None and not server_allowed(origin, DEFAULT_ALLOWED)


def test_jwt_mode_allows_no_server_by_default() -> None:
    settings = load_settings(
        environ={},
        auth_mode="jwt",
        public_base_url="https://cds.example.org",
        issuers=(IssuerConfig("https://ehr.example.org", jwks_url="https://ehr.example.org/k"),),
    )
    assert settings.fhir_allowed_servers == ()
    listed = load_settings(
        environ={"CDS_FHIR_ALLOWED_SERVERS": "https://fhir.example.org"},
        auth_mode="jwt",
        public_base_url="https://cds.example.org",
        issuers=settings.issuers,
    )
    assert listed.fhir_allowed_servers == ("https://fhir.example.org",)


@pytest.mark.parametrize(
    "server",
    [
        "http://localhost.evil.example/fhir",
        "http://127.0.0.1.evil.example/fhir",
        "http://evil-localhost/fhir",
        "https://127.0.0.1/fhir",  # another scheme is another origin
        "http://127.0.0.2/fhir",
        "http://[::2]/fhir",
        "http://10.0.0.1/fhir",
        "http://[::1]evil.example/fhir",  # text after the bracket that is not a port
    ],
)
def test_other_and_look_alike_servers_are_refused(server: str) -> None:
    origin = parse_origin(server)
    assert origin is None or not server_allowed(origin, DEFAULT_ALLOWED)


@pytest.mark.parametrize(
    "server",
    [
        "http://127.0.0.1@evil.example/fhir",  # user info: the host is evil.example
        "http://localhost:80@evil.example/",
        "http://user:pw@localhost/fhir",
        "http://lоcalhost/fhir",  # Cyrillic o: an IDN look-alike
        "http://local%68ost/fhir",  # percent-encoded host
        "http://localhost\\@evil.example/",
        "http://localhost:99999/",
        "ftp://localhost/",
        "http:///fhir",
    ],
)
def test_ambiguous_urls_have_no_origin(server: str) -> None:
    assert parse_origin(server) is None


def test_entry_without_port_names_the_default_port_only() -> None:
    allowed = ("https://fhir.example.org",)
    assert server_allowed(Origin("https", "fhir.example.org", None), allowed)
    assert server_allowed(Origin("https", "fhir.example.org", 443), allowed)
    assert not server_allowed(Origin("https", "fhir.example.org", 8443), allowed)


def test_entry_with_port_allows_only_that_port() -> None:
    allowed = ("https://fhir.example.org:8443",)
    assert server_allowed(Origin("https", "fhir.example.org", 8443), allowed)
    assert not server_allowed(Origin("https", "fhir.example.org", 443), allowed)
    assert not server_allowed(Origin("https", "fhir.example.org", None), allowed)


def test_entry_with_default_port_matches_url_without_port() -> None:
    allowed = ("https://fhir.example.org:443",)
    origin = parse_origin("https://fhir.example.org/R4")
    assert origin is not None and server_allowed(origin, allowed)


def test_origin_text_has_no_path_or_query() -> None:
    origin = parse_origin("http://[::1]:9000/fhir/Patient?name=secret")
    assert str(origin) == "http://[::1]:9000"


def test_bracketed_host_with_trailing_text_has_no_origin() -> None:
    assert parse_origin("http://[::1]evil.example/fhir") is None
    assert parse_origin("http://[::1]:8080/fhir") is not None
