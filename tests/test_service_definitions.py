"""Service definitions are data; an invalid one stops start-up with the file and the problem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cds.config import Settings
from cds.http.app import create_app
from cds.services.definitions import ServiceDefinitionError, load_services

ROOT = Path(__file__).resolve().parents[1]


def _copy_hooks(tmp_path: Path) -> Path:
    target = tmp_path / "hooks"
    shutil.copytree(ROOT / "hooks", target)
    return target


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("description"), "'description' is a required property"),
        (lambda d: d.update(hook="patient-open"), "hook"),
        (lambda d: d["myelin"].update(handler="nope"), "unknown handler 'nope'"),
        (lambda d: d["myelin"]["requiredPrefetch"].append("labs"), "'labs' has no template"),
        (lambda d: d["prefetch"].update(extra="Observation?x=1"), "neither required nor optional"),
        (lambda d: d.update(id="Other ID"), "id"),
        (lambda d: d["myelin"]["observationKeys"].update(labs="b12"), "'labs', which is no prefetch key"),
        (
            lambda d: d["myelin"]["observationKeys"].update(b12Observations="vitamins"),
            "family 'vitamins', which knowledge/labs.json does not have",
        ),
        (
            lambda d: d["myelin"]["observationKeys"].update(chemistryObservations="b12"),
            "no prefetch key asks for the results of family chemistry",
        ),
        (
            lambda d: d["myelin"]["formerPrefetch"].update(patient=["conditions"]),
            "former prefetch key 'patient' is still a current key",
        ),
        (
            lambda d: d["myelin"]["formerPrefetch"]["observations"].append("labs"),
            "stands in for ['labs'] with no template",
        ),
        (
            lambda d: d["myelin"]["observationKeys"].update(observations="b12"),
            "stands in for keys carrying ['chemistry'], which observationKeys does not give it",
        ),
        (lambda d: d["myelin"]["formerPrefetch"].update(observations=[]), "formerPrefetch"),
    ],
)
def test_invalid_definition_names_file_and_problem(tmp_path: Path, change, message: str) -> None:
    hooks = _copy_hooks(tmp_path)
    path = hooks / "deficiency-screen.json"
    _edit(path, change)
    with pytest.raises(ServiceDefinitionError) as raised:
        load_services(hooks, known_handlers={"guideline", "orders"})
    assert str(path) in str(raised.value)
    assert message in str(raised.value)


def test_broken_json_reports_line_and_column(tmp_path: Path) -> None:
    hooks = _copy_hooks(tmp_path)
    (hooks / "broken.json").write_text('{"id": "broken",\n  "hook": }')
    with pytest.raises(ServiceDefinitionError, match=r"broken\.json: not valid JSON \(line 2"):
        load_services(hooks)


def test_app_refuses_to_start_on_invalid_definition(tmp_path: Path, settings: Settings) -> None:
    hooks = _copy_hooks(tmp_path)
    _edit(hooks / "deficiency-screen.json", lambda d: d.pop("title"))
    with pytest.raises(ServiceDefinitionError, match="title"):
        create_app(settings.with_overrides(hooks_dir=str(hooks)))


def test_a_new_definition_file_is_a_new_service(tmp_path: Path, settings: Settings) -> None:
    hooks = _copy_hooks(tmp_path)
    data = json.loads((hooks / "deficiency-screen.json").read_text())
    data["id"] = "deficiency-screen-lite"
    data["title"] = "Lite"
    (hooks / "deficiency-screen-lite.json").write_text(json.dumps(data))
    client = create_app(settings.with_overrides(hooks_dir=str(hooks))).test_client()
    ids = [s["id"] for s in client.get("/cds-services").get_json()["services"]]
    assert sorted(ids) == [
        "deficiency-order-select",
        "deficiency-order-sign",
        "deficiency-screen",
        "deficiency-screen-lite",
    ]
