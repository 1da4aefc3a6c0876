"""The hospital-shaped chart population (scripts/ward_population.py) and the cards-per-chart
measurement run over it (scripts/warnings_per_chart.py)."""

from __future__ import annotations

import importlib.util
import io
import json
import random
from collections import Counter
from contextlib import redirect_stdout
from datetime import timedelta
from pathlib import Path
from statistics import median
from types import ModuleType
from typing import Any

import pytest

from cds.schemas import validator_for

ROOT = Path(__file__).resolve().parents[2]
LABS = json.loads((ROOT / "src/cds/knowledge/labs.json").read_text("utf-8"))["analytes"]
SERVICE = json.loads((ROOT / "hooks/deficiency-screen.json").read_text("utf-8"))


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / f"scripts/{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


population_script = _script("ward_population")
measure_script = _script("warnings_per_chart")


@pytest.fixture(scope="module")
def charts() -> list[dict[str, Any]]:
    return population_script.population(7, 120)


RESULT_KEYS = ("b12Observations", "chemistryObservations", "observations")


def _resources(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The resources under a key; "observations": every result, under whichever result keys."""
    keys = [k for k in RESULT_KEYS if k in body["prefetch"]] if key == "observations" else [key]
    return [e["resource"] for k in keys for e in body["prefetch"][k]["entry"]]


def test_results_are_under_their_familys_key_or_the_former_single_key() -> None:
    split, former = population_script.population(7, 3), population_script.population(7, 3, former=True)
    families = {e["code"]: lab["family"] for lab in LABS.values() for e in lab["loinc"]}
    for body in split:
        for key, family in (("b12Observations", "b12"), ("chemistryObservations", "chemistry")):
            assert {families[r["code"]["coding"][0]["code"]] for r in _resources(body, key)} <= {family}
        assert "observations" not in body["prefetch"]
    for one, other in zip(split, former, strict=True):
        assert set(other["prefetch"]) - set(one["prefetch"]) == {"observations"}
        assert len(_resources(one, "observations")) == len(_resources(other, "observations"))


def test_the_same_seed_writes_the_same_files_and_another_seed_other_charts(tmp_path: Path) -> None:
    first, again, other = tmp_path / "first", tmp_path / "again", tmp_path / "other"
    with redirect_stdout(io.StringIO()):
        population_script.main(["--seed", "7", "--count", "12", "--out", str(first)])
        population_script.main(["--seed", "7", "--count", "12", "--out", str(again)])
        population_script.main(["--seed", "8", "--count", "12", "--out", str(other)])
    names = sorted(p.name for p in first.glob("*.json"))
    assert len(names) == 12
    assert names == sorted(p.name for p in again.glob("*.json"))
    assert all((first / n).read_bytes() == (again / n).read_bytes() for n in names)
    assert any((first / n).read_bytes() != (other / n).read_bytes() for n in names)


def test_every_body_is_a_valid_patient_view_request_with_the_services_prefetch(
    charts: list[dict[str, Any]],
) -> None:
    validator = validator_for("hook-request")
    for body in charts:
        errors = [e.message for e in validator.iter_errors(body)]
        assert errors == [], (body["context"]["patientId"], errors)
        assert body["hook"] == SERVICE["hook"]
        assert set(body["prefetch"]) == set(SERVICE["prefetch"])
        assert "fhirServer" not in body
        measure_script.parse_instant(body["_now"])  # the instant the measurement pins the clock to
        for key in ("b12Observations", "chemistryObservations", "conditions", "medicationStatements",
                    "medicationRequests"):  # fmt: skip
            assert body["prefetch"][key]["resourceType"] == "Bundle"
            assert body["prefetch"][key]["type"] == "searchset"


def test_every_result_has_a_code_and_unit_the_knowledge_files_read(charts: list[dict[str, Any]]) -> None:
    accepted = {
        item["code"]: {unit.lower() for unit in analyte["units"]}
        for analyte in LABS.values()
        for item in analyte["loinc"]
    }
    units_seen: Counter[str] = Counter()
    for body in charts:
        for observation in _resources(body, "observations"):
            (coding,) = observation["code"]["coding"]
            assert coding["system"] == "http://loinc.org"
            assert coding["code"] in accepted, coding["code"]
            unit = observation["valueQuantity"]["unit"]
            assert unit.lower() in accepted[coding["code"]], (coding["code"], unit)
            units_seen[unit] += 1
    # Mixed units as laboratories send them, calcium and magnesium in both mass and moles.
    assert {"mg/dL", "mmol/L", "mEq/L", "g/L", "g/dL"} <= set(units_seen)


def test_whole_number_values_are_written_without_a_trailing_zero(charts: list[dict[str, Any]]) -> None:
    values = [o["valueQuantity"]["value"] for b in charts for o in _resources(b, "observations")]
    assert not [v for v in values if isinstance(v, float) and v.is_integer()]
    assert any(isinstance(v, int) for v in values)


def test_the_population_is_shaped_like_a_hospital(charts: list[dict[str, Any]]) -> None:
    settings = Counter(body["_setting"] for body in charts)
    assert settings == {"icu": 48, "ward": 54, "outpatient": 18}
    deceased = [b for b in charts if "deceasedDateTime" in b["prefetch"]["patient"]]
    assert len(deceased) == 12
    results = {
        setting: median(len(_resources(b, "observations")) for b in charts if b["_setting"] == setting)
        for setting in settings
    }
    assert results["icu"] > 2 * results["ward"] > 2 * results["outpatient"]  # blood drawn far more often
    statuses = Counter(s["status"] for b in charts for s in _resources(b, "medicationStatements"))
    assert statuses["unknown"] > 0
    icd10 = Counter(
        c["code"] for b in charts for r in _resources(b, "conditions") for c in r["code"].get("coding", ())
    )
    assert icd10["R25.3"] >= 5 and (icd10["Z66"] + icd10["304253006"]) > 0
    assert any("coding" not in r["code"] for b in charts for r in _resources(b, "conditions"))


def _chart(now: str, deceased: bool, potassium: float | None) -> dict[str, Any]:
    """A generated chart emptied to one potassium taken five hours before `now`, or none."""
    body = population_script.population(3, 1)[0]
    prefetch, taken = body["prefetch"], measure_script.parse_instant(now) - timedelta(hours=5)
    for key in ("b12Observations", "chemistryObservations", "conditions", "medicationStatements",
                "medicationRequests"):  # fmt: skip
        prefetch[key] = population_script.bundle([])
    if potassium is not None:
        result = population_script.observation(
            prefetch["patient"]["id"], 1, "potassium", "serum", potassium, "mmol/L", taken, random.Random(1)
        )
        prefetch["chemistryObservations"] = population_script.bundle([result])
    prefetch["patient"].pop("deceasedDateTime", None)
    if deceased:
        prefetch["patient"]["deceasedDateTime"] = now
    return {**body, "_now": now}


def test_the_measurement_counts_add_up_on_generated_charts(tmp_path: Path) -> None:
    with redirect_stdout(io.StringIO()):
        population_script.main(["--seed", "7", "--count", "5", "--out", str(tmp_path)])
    out = io.StringIO()
    with redirect_stdout(out):
        assert measure_script.main([str(tmp_path), "--json"]) == 0
    report = json.loads(out.getvalue())
    assert report["charts"] == 5 == report["living"] + report["deceased"] + len(report["refused"])
    assert report["refused"] == [] and report["deceased"] == 1 and report["cardsOnDeceasedCharts"] == 0
    total = sum(report["cardsOnLivingCharts"].values())
    assert total == sum(sum(counts.values()) for counts in report["byTopic"].values())
    assert report["living"] == sum(s["charts"] for s in report["bySetting"].values())
    for indicator in ("critical", "warning", "info"):
        assert report["cardsOnLivingCharts"][indicator] == sum(
            s.get(indicator, 0) for s in report["bySetting"].values()
        )
        assert report["cardsPerLivingChart"][indicator] == round(
            report["cardsOnLivingCharts"][indicator] / report["living"], 4
        )
    assert sum(item["count"] for item in report["topSummaries"]) <= total
    alerted = report["livingWithWarningOrCritical"]
    assert alerted == sum(s.get("with warning or critical", 0) for s in report["bySetting"].values())
    assert report["shareLivingWithWarningOrCritical"] == round(alerted / report["living"], 4)


def test_the_measurement_pins_the_clock_to_each_charts_now(tmp_path: Path) -> None:
    """A potassium of 6.9 taken five hours before the chart's "now" (years before today) is critical
    only if the service reads the chart at that "now"; a deceased chart gets no card at all."""
    charts = {
        "high-potassium": _chart("2021-03-01T10:00:00Z", deceased=False, potassium=6.9),
        "normal": _chart("2021-03-01T10:00:00Z", deceased=False, potassium=None),
        "died": _chart("2021-03-01T10:00:00Z", deceased=True, potassium=6.9),
    }
    for name, body in charts.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(body), encoding="utf-8")
    send, service = measure_script.in_process_sender(str(tmp_path / "data"))
    report = measure_script.measure(measure_script.load_bodies(tmp_path), send)
    assert service == "deficiency-screen"
    assert (report["living"], report["deceased"], report["cardsOnDeceasedCharts"]) == (2, 1, 0)
    assert report["byTopic"]["electrolyte-imbalance"] == {"critical": 1}
    assert report["livingWithWarningOrCritical"] == 1
    out = io.StringIO()
    with redirect_stdout(out):
        measure_script.main([str(tmp_path)])
    assert "2 living, 1 deceased" in out.getvalue()
    assert "electrolyte-imbalance" in out.getvalue()


def test_the_measurement_refuses_a_directory_without_request_bodies(tmp_path: Path) -> None:
    (tmp_path / "notes.json").write_text("[]", encoding="utf-8")
    with redirect_stdout(io.StringIO()):
        assert measure_script.main([str(tmp_path)]) == 2
        assert measure_script.main([str(tmp_path / "absent")]) == 2
