"""Medicines sent as RxNorm product codes (clinical drug, branded drug, pack, component)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from tests.engine.engine_fhir import (
    KNOWLEDGE,
    PID,
    chart,
    finding,
    med,
    obs,
    product_chart,
    run,
    topics,
)

ROOT = Path(__file__).resolve().parents[2]

# One product code per class the engine reads, with its RxNorm name (each from the map's sources).
PRODUCTS = {
    "b12-therapy": ("2001499", "Vitamin B 12 5 MG/ML Injectable Solution"),
    "thiazide-diuretic": ("310798", "Hydrochlorothiazide 25 MG Oral Tablet"),
    "loop-diuretic": ("1719286", "10 ML Furosemide 10 MG/ML Injection"),
    "digoxin": ("197604", "Digoxin 0.125 MG Oral Tablet"),
    "metformin": ("860975", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet"),
    "ppi": ("198051", "omeprazole 20 MG Delayed Release Oral Capsule"),
    "systemic-corticosteroid": ("312617", "predniSONE 5 MG Oral Tablet"),
}


def _classes(shape: str, code: str | None, name: str | None) -> set[tuple[str, str]]:
    return {(m.class_key, m.matched_by) for m in run(product_chart(shape, code, name)).facts.medications}


@pytest.mark.parametrize("shape", ["inline", "contained", "referenced"])
@pytest.mark.parametrize("class_key", sorted(PRODUCTS))
@pytest.mark.parametrize("sent", ["code only", "name only", "both"])
def test_every_class_is_recognised_by_product_code_name_or_both(class_key, shape, sent):
    code, name = PRODUCTS[class_key]
    found = _classes(shape, code if sent != "name only" else None, name if sent != "code only" else None)
    how = "name" if sent == "name only" else "rxnorm"  # a product's own name is not in doubt
    assert (class_key, how) in found


@pytest.mark.parametrize("code", ["2001499", "316049", "316052", "310798", "315971", "1719286", "197604"])
def test_codes_named_in_the_field_report_are_mapped(code):
    assert KNOWLEDGE.medication_codes.get(code), code


def test_code_only_b12_injection_means_no_second_course():
    low = [obs("2132-9", 120, "pg/mL")]
    on_b12 = med("MedicationStatement", rxnorm="2001499", start="2026-01-01")
    result = run(chart(low, statements=[on_b12]))
    assert finding(result, "b12-deficiency") is None
    assert finding(result, "b12-treatment-monitoring") is not None


@pytest.mark.parametrize("code", ["316049", "316052", "310798", "315971", "1719286", "197604"])
def test_code_only_diuretic_or_digoxin_with_a_ppi_prompts_a_magnesium_test(code):
    ppi = med(rxnorm="198051", start="2026-09-01")  # recent: a PPI alone would not prompt it yet
    assert "magnesium-testing-recommended" in topics(run(chart(meds=[ppi, med(rxnorm=code)])))
    assert "magnesium-testing-recommended" not in topics(run(chart(meds=[ppi])))


def test_topical_corticosteroid_is_not_mapped_as_systemic():
    assert "106258" not in KNOWLEDGE.medication_codes  # hydrocortisone topical cream


def test_map_records_its_sources_date_and_size():
    raw = json.loads((ROOT / "src/cds/knowledge/medications.json").read_text("utf-8"))["product_map"]
    assert raw["retrieved"] and raw["sources"]
    assert raw["size"] == sum(len(codes) for codes in raw["classes"].values())
    assert 1000 <= raw["size"] <= 20000  # small: thousands of codes, not the terminology
    assert PID


def _script():
    spec = importlib.util.spec_from_file_location(
        "build_medication_map", ROOT / "scripts/build_medication_map.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("name", "classes", "low"),
    [
        (
            "hydrochlorothiazide 12.5 MG / lisinopril 20 MG Oral Tablet",
            ["potassium-raising", "thiazide-diuretic"],
            [],
        ),
        ("Hydrocortisone 10 MG/ML Topical Cream", [], []),
        ("hydrocortisone 10 MG Oral Tablet [Cortef]", ["systemic-corticosteroid"], []),
        ("cyanocobalamin 1 MG Oral Tablet", ["b12-therapy"], []),
        (
            "cyanocobalamin 0.006 MG / folic acid 0.4 MG / Vitamin A 1000 UNT Chewable Tablet",
            [],
            ["b12-therapy", "folic-acid"],
        ),
        (
            "cyanocobalamin 1 MG / folic acid 2.5 MG / pyridoxine 25 MG Oral Tablet",
            ["b12-therapy", "folic-acid"],
            [],
        ),
        ("cyanocobalamin 0.5 MG / folic acid 0.8 MG Oral Tablet", ["b12-therapy"], ["folic-acid"]),
        ("folic acid 0.4 MG Oral Tablet", ["folic-acid"], []),
        ("Calcium Carbonate / Famotidine 10 MG / Magnesium Hydroxide Chewable Tablet", ["h2-blocker"], []),
        ("amlodipine 5 MG Oral Tablet", [], []),
    ],
)
def test_map_rules_for_combinations_local_forms_and_low_doses(name, classes, low):
    knowledge = json.loads((ROOT / "src/cds/knowledge/medications.json").read_text("utf-8"))
    module = _script()
    found, too_little = module.classify(name, module._class_names(knowledge), module._rules(knowledge))
    assert sorted(found) == sorted(classes)
    assert sorted(too_little) == sorted(low)


@pytest.mark.parametrize(
    ("name", "counted"),
    [
        ("Vitamin B 12 5 MG/ML Injectable Solution", True),
        ("cyanocobalamin 1000 MCG Sublingual Tablet", True),
        ("cyanocobalamin 0.006 MG / folic acid 0.4 MG / Vitamin A 1000 UNT Chewable Tablet", False),
        ("Multivitamin with vitamin B12", False),
        ("cyanocobalamin 1 MG / folic acid 2.5 MG / pyridoxine 25 MG Oral Tablet", True),
    ],
)
def test_low_dose_b12_named_in_a_multivitamin_is_not_b12_therapy(name, counted):
    found = _classes("inline", None, name)
    assert any(key == "b12-therapy" for key, _how in found) is counted


def test_script_builds_term_types_from_rxnorm_names(tmp_path):
    table = tmp_path / "codes.csv"
    table.write_text(
        "concept_id,concept_name,concept_code,vocabulary_id\n"
        "1,omeprazole 20 MG Delayed Release Oral Capsule,198051,RxNorm\n"
        "2,omeprazole 20 MG Delayed Release Oral Capsule [Prilosec],207212,RxNorm\n"
        "3,{14 (omeprazole 20 MG Delayed Release Oral Capsule) } Pack,1000001,RxNorm\n"
        "4,Omeprazole 20 MG Box of 28,OMOP385130,RxNorm Extension\n",
        "utf-8",
    )
    module = _script()
    knowledge = json.loads((ROOT / "src/cds/knowledge/medications.json").read_text("utf-8"))
    classes, _ = module.build(module.read_omop(table), knowledge)
    assert {code: label.split()[0] for code, label in classes["ppi"].items()} == {
        "198051": "SCD",
        "207212": "SBD",
        "1000001": "GPCK",
    }


def test_check_reports_whether_the_committed_map_matches_its_inputs(tmp_path, capsys):
    table = tmp_path / "codes.csv"
    table.write_text(
        "concept_id,concept_name,concept_code,vocabulary_id\n"
        "1,omeprazole 20 MG Delayed Release Oral Capsule,198051,RxNorm\n"
        "2,cyanocobalamin 0.006 MG / folic acid 0.4 MG / Vitamin A 1000 UNT Chewable Tablet,9000001,RxNorm\n",
        "utf-8",
    )
    knowledge = tmp_path / "medications.json"
    knowledge.write_text((ROOT / "src/cds/knowledge/medications.json").read_text("utf-8"), "utf-8")
    module = _script()
    args = ["--omop", str(table), "--retrieved", "2026-11-25", "--knowledge", str(knowledge)]
    assert module.main([*args, "--check"]) == 1  # the committed map came from other inputs
    assert module.main(args) == 0
    written = json.loads(knowledge.read_text("utf-8"))["product_map"]
    assert written["classes"]["ppi"] == {"198051": "SCD omeprazole 20 MG Delayed Release Oral Capsule"}
    assert set(written["not_counted"]["folic-acid-low-dose"]) == {"9000001"}
    assert module.main([*args, "--check"]) == 0
    table.write_text(table.read_text("utf-8").replace("198051", "198052"), "utf-8")
    assert module.main([*args, "--check"]) == 1
    assert "differs" in capsys.readouterr().out


# Codes the synthetic patient generator writes into charts (its module files' MedicationOrder
# states, and its medication cost table), with the map's other sources for classes the generator
# never prescribes. Each is sent as a code alone, with no name.
GENERATOR_CODES = [
    ("860975", "metformin"),  # metabolic_syndrome_care
    ("2001499", "b12-therapy"),  # anemia/anemia_sub
    ("313988", "loop-diuretic"),  # congestive_heart_failure, heart/chf_meds*
    ("1719286", "loop-diuretic"),  # congestive_heart_failure (inpatient)
    ("197604", "digoxin"),  # heart/chf_meds_hfmef, heart/chf_meds_hfref_nyha4
    ("312615", "systemic-corticosteroid"),  # lupus, rheumatoid_arthritis
    ("312617", "systemic-corticosteroid"),  # cost table
    ("5487", "thiazide-diuretic"),  # medications/hypertension_medication (ingredient code)
    ("310798", "thiazide-diuretic"),  # cost table
    ("198051", "ppi"),  # PEDSnet proton pump inhibitor code set (the generator prescribes none)
]


@pytest.mark.parametrize(("code", "class_key"), GENERATOR_CODES)
@pytest.mark.parametrize("shape", ["inline", "contained", "referenced"])
def test_generator_codes_sent_alone_are_recognised(code, class_key, shape):
    assert (class_key, "rxnorm") in _classes(shape, code, None)


@pytest.mark.parametrize(
    "code",
    [
        "313096",  # spironolactone 25 MG Oral Tablet: a diuretic, but neither loop nor thiazide
        "979492",  # losartan potassium 50 MG Oral Tablet
        "200033",  # carvedilol 25 MG Oral Tablet
        "1656354",  # sacubitril / valsartan
        "106258",  # Hydrocortisone 10 MG/ML Topical Cream: a local form
        "310325",  # ferrous sulfate 325 MG Oral Tablet
    ],
)
def test_generator_codes_of_other_medicines_match_no_class(code):
    assert _classes("inline", code, None) == set()


def _module(states: dict[str, Any]) -> str:
    return json.dumps({"name": "m", "states": states})


def test_script_reads_medication_orders_from_generator_modules(tmp_path, capsys):
    folder = tmp_path / "modules"
    (folder / "heart").mkdir(parents=True)
    (folder / "heart" / "chf.json").write_text(
        _module(
            {
                "Dig": {
                    "type": "MedicationOrder",
                    "codes": [
                        {"system": "RxNorm", "code": 197604, "display": "digoxin 0.125 MG Oral Tablet"}
                    ],
                },
                "Stop": {
                    "type": "MedicationEnd",
                    "codes": [
                        {"system": "RxNorm", "code": 9000002, "display": "Furosemide 20 MG Oral Tablet"}
                    ],
                },
                "Snomed": {
                    "type": "MedicationOrder",
                    "codes": [
                        {"system": "SNOMED-CT", "code": 9000003, "display": "Furosemide 80 MG Oral Tablet"}
                    ],
                },
                "Ingredient": {
                    "type": "MedicationOrder",
                    "codes": [{"system": "RxNorm", "code": 5487, "display": "hydrochlorothiazide"}],
                },
            }
        ),
        "utf-8",
    )
    (folder / "diabetes.json").write_text(
        _module(
            {
                "Met": {
                    "type": "MedicationOrder",
                    "codes": [
                        {
                            "system": "RxNorm",
                            "code": "860975",
                            "display": "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet",
                        }
                    ],
                }
            }
        ),
        "utf-8",
    )
    (folder / "commits.txt").write_text("# versions\nheart/chf.json 0123abcd\n", "utf-8")
    module = _script()
    assert sorted(module.read_synthea_modules(folder)) == [
        ("197604", "digoxin 0.125 MG Oral Tablet"),
        ("5487", "hydrochlorothiazide"),
        ("860975", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet"),
    ]
    knowledge = tmp_path / "medications.json"
    knowledge.write_text((ROOT / "src/cds/knowledge/medications.json").read_text("utf-8"), "utf-8")
    args = ["--synthea-modules", str(folder), "--retrieved", "2026-11-25", "--knowledge", str(knowledge)]
    assert module.main(args) == 0
    written = json.loads(knowledge.read_text("utf-8"))["product_map"]
    assert written["classes"]["digoxin"] == {"197604": "SCD digoxin 0.125 MG Oral Tablet"}
    assert set(written["classes"]["metformin"]) == {"860975"}
    assert not written["classes"]["loop-diuretic"]  # an ended order and a SNOMED code add nothing
    assert not written["classes"]["thiazide-diuretic"]  # an ingredient code is not a product
    modules = [s for s in written["sources"] if s.get("path") == "src/main/resources/modules/"]
    assert modules[0]["files"] == [
        {"file": "diabetes.json"},
        {"file": "heart/chf.json", "commit": "0123abcd"},
    ]
    assert module.main([*args, "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_map_records_the_generator_modules_it_read():
    raw = json.loads((ROOT / "src/cds/knowledge/medications.json").read_text("utf-8"))["product_map"]
    modules = [s for s in raw["sources"] if s.get("path") == "src/main/resources/modules/"]
    assert modules and modules[0]["repository"] == "synthetichealth/synthea"
    files = {f["file"]: f.get("commit", "") for f in modules[0]["files"]}
    assert "metabolic_syndrome_care.json" in files and "heart/chf_meds.json" in files
    assert all(len(commit) == 40 for commit in files.values())
