"""Record the FHIR traffic of a fallback call to a file, and replay it offline.

A recording holds, per FHIR request, the URL, the status, the content type and the body
of the answer. It never holds request headers, so the access token is not in it. Replay
needs the `responses` package (a test dependency): it answers the same URLs from the file
and refuses every other request, so a replay cannot reach the network.

    cds fhir-record fixtures/x.json --fhir-server http://127.0.0.1:8090/fhir \
        --out fixtures/recordings/x.json          # token from $FHIR_ACCESS_TOKEN
    cds fhir-replay fixtures/x.json fixtures/recordings/x.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from cds.fhir.client import FhirClient

FORMAT = "myelin-cds/fhir-recording/1"
REPLAY_TOKEN = "replayed-recording"  # stands in for the token, which is never recorded


class FhirRecorder:
    """Collects every answer the FHIR client receives while attached."""

    def __init__(self) -> None:
        self.exchanges: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # keys are fetched on several threads

    def observe(self, base: str, url: str, response: requests.Response) -> None:
        content_type = response.headers.get("Content-Type", "")
        entry: dict[str, Any] = {
            "method": "GET",
            "url": response.request.url or url,
            "status": response.status_code,
            "contentType": content_type,
        }
        try:
            entry["json"] = json.loads(response.content)
        except ValueError:
            entry["text"] = response.text
        with self._lock:
            self.exchanges.append(entry)

    @contextmanager
    def attached(self, client: FhirClient) -> Iterator[FhirRecorder]:
        client.observers.append(self.observe)
        try:
            yield self
        finally:
            client.observers.remove(self.observe)

    def to_json(self, fhir_server: str) -> dict[str, Any]:
        # Sorted so that concurrent fetches give the same file from run to run.
        exchanges = sorted(self.exchanges, key=lambda e: e["url"])
        return {"format": FORMAT, "fhirServer": fhir_server, "exchanges": exchanges}


def load_recording(path: str | os.PathLike[str]) -> dict[str, Any]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a FHIR recording (format {FORMAT!r} expected)")
    return data


@contextmanager
def replaying(recording: dict[str, Any]) -> Iterator[Any]:
    """A `responses` mock answering the recorded requests; any other request fails."""
    import responses
    from responses import matchers

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for exchange in recording["exchanges"]:
            url, _, query = exchange["url"].partition("?")
            body = json.dumps(exchange["json"]) if "json" in exchange else exchange.get("text", "")
            mock.add(
                exchange.get("method", "GET"),
                url,
                body=body,
                status=exchange["status"],
                content_type=exchange.get("contentType") or None,
                match=[matchers.query_string_matcher(query or None)],
            )
        yield mock


@dataclass(frozen=True)
class Fixture:
    name: str
    now: datetime
    request: dict[str, Any]


def load_fixture(path: str | os.PathLike[str]) -> Fixture:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return Fixture(Path(path).stem, datetime.fromisoformat(data["now"]), data["request"])


def fallback_request(request: dict[str, Any], fhir_server: str, token: str) -> dict[str, Any]:
    """The same call without prefetch, so every key comes from the FHIR server."""
    body = copy.deepcopy(request)
    body.pop("prefetch", None)
    body["fhirServer"] = fhir_server
    body["fhirAuthorization"] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "myelin-cds",
    }
    return body


def call_service(app: Any, service: str, body: dict[str, Any]) -> tuple[int, Any]:
    response = app.test_client().post(f"/cds-services/{service}", json=body)
    return response.status_code, response.get_json()


def record_fallback(
    app: Any, fixture: Fixture, service: str, fhir_server: str, token: str
) -> tuple[int, Any, dict[str, Any]]:
    """Call the service with no prefetch against a live server; return status, body, recording."""
    recorder = FhirRecorder()
    with recorder.attached(app.extensions["cds"].fhir_client):
        status, body = call_service(app, service, fallback_request(fixture.request, fhir_server, token))
    return status, body, recorder.to_json(fhir_server)


def replay_fallback(app: Any, fixture: Fixture, service: str, recording: dict[str, Any]) -> tuple[int, Any]:
    """Call the service with no prefetch, the FHIR answers coming from the recording."""
    body = fallback_request(fixture.request, recording["fhirServer"], REPLAY_TOKEN)
    with replaying(recording):
        return call_service(app, service, body)


# --- command line


def _app_for(fixture: Fixture, config: str | None, fhir_server: str | None = None) -> Any:
    from cds.config import load_settings
    from cds.http.app import create_app

    settings = load_settings(config, database_url="sqlite://")
    if fhir_server:  # the server named on the command line (or recorded) is the one to call
        origin = "/".join(fhir_server.split("/")[:3])
        allowed = (*(settings.fhir_allowed_servers or ()), origin)
        settings = settings.with_overrides(fhir_allowed_servers=allowed)
    return create_app(settings, clock=lambda: fixture.now)


def _service_of(path: str) -> str:
    return json.loads(Path(path).read_text(encoding="utf-8")).get("service", "deficiency-screen")


def _record(args: argparse.Namespace) -> int:
    token = os.environ.get(args.token_env)
    if not token:
        print(f"cds fhir-record: set the access token in ${args.token_env}", file=sys.stderr)
        return 2
    fixture = load_fixture(args.fixture)
    app = _app_for(fixture, args.config, args.fhir_server)
    status, body, recording = record_fallback(
        app, fixture, _service_of(args.fixture), args.fhir_server, token
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(recording, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({"status": status, "recorded": len(recording["exchanges"]), "out": str(out)}))
    print(json.dumps(body, indent=1))
    return 0 if status == 200 else 1


def _replay(args: argparse.Namespace) -> int:
    fixture = load_fixture(args.fixture)
    recording = load_recording(args.recording)
    app = _app_for(fixture, args.config, recording["fhirServer"])
    status, body = replay_fallback(app, fixture, _service_of(args.fixture), recording)
    print(json.dumps({"status": status}))
    print(json.dumps(body, indent=1))
    return 0 if status == 200 else 1


def register(commands: Any) -> None:
    """Add `fhir-record` and `fhir-replay` to the `cds` parser."""
    record = commands.add_parser(
        "fhir-record", help="call a fixture without prefetch and record the FHIR server's answers"
    )
    record.add_argument("fixture", help="fixture file (fixtures/<name>.json)")
    record.add_argument("--fhir-server", required=True, help="FHIR base URL (allowed for this run)")
    record.add_argument("--out", required=True, help="recording to write (fixtures/recordings/...)")
    record.add_argument(
        "--token-env", default="FHIR_ACCESS_TOKEN", help="environment variable holding the token"
    )
    record.add_argument("--config", help="TOML configuration file (default: $CDS_CONFIG)")
    record.set_defaults(func=_record)

    replay = commands.add_parser("fhir-replay", help="call a fixture offline with recorded FHIR answers")
    replay.add_argument("fixture", help="fixture file (fixtures/<name>.json)")
    replay.add_argument("recording", help="recording written by fhir-record")
    replay.add_argument("--config", help="TOML configuration file (default: $CDS_CONFIG)")
    replay.set_defaults(func=_replay)
