"""Try the companion app by hand: a simulated EHR holding every fixture, in front of a
loopback FHIR server, launching the app of a running service.

    CDS_SMART_CLIENT_ID=myelin-companion make serve          # one terminal
    .venv/bin/python -m tests.smartlauncher.try_it            # another; open the printed URL

Needs the Node parts `make test` installs (tests/fhirserver, tests/smartlauncher). Every
fixture's dates are moved to today, as `cds replay --url` does.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from datetime import UTC, datetime

import requests

from cds.tools.fixtures import fixture_paths, load_fixture, request_for
from tests.loopback_fhir import ROOT, RigError, resources_of
from tests.smartlauncher.rig import COMPANION_DATA, smart_rig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="try_it", description=__doc__.splitlines()[0])
    parser.add_argument("--service", default="http://127.0.0.1:8080", help="the running service's base URL")
    parser.add_argument("--client-id", default="myelin-companion", help="its smart_client_id")
    args = parser.parse_args(argv)
    service = args.service.rstrip("/")
    try:
        app = requests.get(f"{service}/app/static/app.css", timeout=5)
    except requests.RequestException:
        print(f"try_it: no service answers at {service}; start it with `make serve`", file=sys.stderr)
        return 2
    if app.status_code != 200:
        print(
            f"try_it: {service} does not serve the app: start it with CDS_SMART_CLIENT_ID={args.client_id}",
            file=sys.stderr,
        )
        return 2
    now = datetime.now(UTC)
    # A TERM stops it like Ctrl-C, so the Node servers it started are stopped with it.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with smart_rig(app_launch=f"{service}/app/launch") as (fhir, simulator):
            simulator.register(args.client_id, f"{service}/app/")
            patients = []
            for path in fixture_paths([ROOT / "fixtures", COMPANION_DATA]):
                fixture = load_fixture(path)
                if fixture.service != "deficiency-screen":
                    continue
                request = request_for(fixture, now)
                patient = request["context"]["patientId"]
                if any(p["id"] == patient for p in patients):
                    continue  # fixtures that share a patient id would mix their records: the first is kept
                fhir.seed(resources_of(request["prefetch"]))
                patients.append({"id": patient, "label": f"{fixture.name}: {fixture.description}"})
            simulator.list_patients(sorted(patients, key=lambda p: json.dumps(p)))
            print(
                f"Simulated EHR with {len(patients)} patients: {simulator.base}/  (Ctrl-C to stop)",
                flush=True,
            )
            while True:
                time.sleep(3600)
    except RigError as exc:
        print(f"try_it: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
