"""Card preview page: lists the fixtures and shows cards as an EHR would (testing and demos).

Registered only when `settings.preview_enabled`. The page itself calls the real service
endpoint from the browser; these routes only serve the static files and the fixtures, with
their dates moved to the app's "now" so each scenario keeps its meaning.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, json

from cds.errors import NotFound
from cds.tools.fixtures import FixtureError, list_fixtures, load_fixture, request_for

_STATIC = {
    "preview.js": "text/javascript",
    "markdown.js": "text/javascript",
    "preview.css": "text/css",
}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
# The page loads nothing from elsewhere and runs no inline script.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


def _json(payload: Any) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), mimetype="application/json")


def _state() -> Any:
    return current_app.extensions["cds"]


def preview_blueprint() -> Blueprint:
    blueprint = Blueprint("preview", __name__)

    @blueprint.get("/")
    def page() -> Response:
        response = Response(_asset("index.html"), mimetype="text/html")
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["Cache-Control"] = "no-cache"
        return response

    @blueprint.get("/preview/static/<name>")
    def static_file(name: str) -> Response:
        if name not in _STATIC:
            raise NotFound(f"no preview file '{name[:100]}'")
        response = Response(_asset(name), mimetype=_STATIC[name])
        response.headers["Cache-Control"] = "no-cache"
        return response

    @blueprint.get("/preview/fixtures")
    def fixtures() -> Response:
        state = _state()
        items = []
        for fixture in list_fixtures(state.settings.fixtures_dir):
            try:
                golden = fixture.load_golden()
            except FixtureError:
                golden = None
            items.append(
                {
                    "name": fixture.name,
                    "description": fixture.description,
                    "service": fixture.service,
                    "intentTopics": list(fixture.intent_topics),
                    "expected": golden["cards"] if golden else None,
                }
            )
        return _json({"fixtures": items})

    @blueprint.get("/preview/fixtures/<name>")
    def fixture(name: str) -> Response:
        state = _state()
        if not _NAME_RE.match(name) or name.endswith(".expected"):
            raise NotFound(f"no fixture named '{name[:100]}'")
        try:
            loaded = load_fixture(Path(state.settings.fixtures_dir) / f"{name}.json")
        except FixtureError:
            raise NotFound(f"no fixture named '{name[:100]}'") from None
        return _json(
            {
                "name": loaded.name,
                "description": loaded.description,
                "service": loaded.service,
                "fixtureNow": loaded.now.isoformat(),
                "intentTopics": list(loaded.intent_topics),
                "request": request_for(loaded, state.clock()),
            }
        )

    return blueprint
