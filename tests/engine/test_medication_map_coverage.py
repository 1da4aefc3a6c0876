"""Product codes for every medication class: value set expansions and examples as map inputs.

The field report: nizatidine sent by its RxNorm product codes (476872, 582620) was shown as
"matched by name only: please verify" because the map held no H2 blocker product code.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from cds.knowledge.loader import _build_medications
from tests.engine.engine_fhir import KNOWLEDGE, RXNORM, chart, finding, med, obs, product_chart, run

ROOT = Path(__file__).resolve().parents[2]
MAP_FILE = ROOT / "src/cds/knowledge/medications.json"


def _script():
    spec = importlib.util.spec_from_file_location(
        "build_medication_map", ROOT / "scripts/build_medication_map.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _knowledge_file() -> dict[str, Any]:
    return json.loads(MAP_FILE.read_text("utf-8"))


def _classes(
    shape: str, code: str | None, name: str | None = None, knowledge=KNOWLEDGE
) -> set[tuple[str, str]]:
    facts = run(product_chart(shape, code, name), knowledge=knowledge).facts
    return {(m.class_key, m.matched_by) for m in facts.medications}


# -- the field report -------------------------------------------------------------------------

NIZATIDINE = {
    "476872": "Nizatidine 15 MG/ML Oral Solution",  # SCD, US Core MedicationRequest example
    "582620": "Nizatidine 15 MG/ML Oral Solution [Axid]",  # SBD, US Core Medication example
}


@pytest.mark.parametrize("shape", ["inline", "contained", "referenced"])
@pytest.mark.parametrize("code", sorted(NIZATIDINE))
def test_nizatidine_product_codes_are_h2_blockers_by_code(code, shape):
    assert _classes(shape, code) == {("h2-blocker", "rxnorm")}


@pytest.mark.parametrize("code", sorted(NIZATIDINE))
def test_nizatidine_sent_with_its_name_is_no_longer_matched_by_name_only(code):
    result = run(product_chart("inline", code, NIZATIDINE[code]))
    testing = finding(result, "b12-testing-recommended")  # an H2 blocker and no recent B12
    assert testing is not None
    assert [(c.key, c.matched_by) for c in testing.causes if c.kind == "medication"] == [
        ("h2-blocker", "rxnorm")
    ]


# -- a product code per class, from the generated map ------------------------------------------

# One code per class from the map's sources (value set expansions, the PDDI IG, US Core examples,
# the synthetic generator), each with its RxNorm name; folic acid has no public product table yet.
CLASS_CODES = {
    "metformin": "861007",  # metformin hydrochloride 500 MG Oral Tablet (VSAC Diabetes Medications)
    "ppi": "854870",  # Rabeprazole sodium 20 MG Delayed Release Oral Tablet [Aciphex] (PDDI)
    "h2-blocker": "1100066",  # Famotidine 26.6 MG / Ibuprofen 800 MG Oral Tablet (PDDI ibuprofen set)
    "b12-therapy": "2001499",  # Vitamin B 12 5 MG/ML Injectable Solution (Synthea)
    "loop-diuretic": "2589881",  # torsemide 40 MG Oral Tablet (VSAC Diuretics)
    "thiazide-diuretic": "197815",  # indapamide 1.25 MG Oral Tablet (VSAC)
    "systemic-corticosteroid": "312617",  # predniSONE 5 MG Oral Tablet (Synthea)
    "digoxin": "197606",  # Digoxin 0.25 MG Oral Tablet (PDDI, VSAC Digoxin Medications)
}


@pytest.mark.parametrize(("class_key", "code"), sorted(CLASS_CODES.items()))
def test_a_product_code_of_each_class_classifies_by_code_alone(class_key, code):
    assert _knowledge_file()["product_map"]["classes"][class_key][code]  # a generated entry
    assert _classes("inline", code) == {(class_key, "rxnorm")}


@pytest.mark.parametrize(
    "class_key",
    [
        *(k for k in sorted(CLASS_CODES)),
        pytest.param(
            "folic-acid",
            marks=pytest.mark.xfail(strict=True, reason="no public table of folic acid product codes found"),
        ),
    ],
)
def test_every_class_has_product_codes(class_key):
    assert _knowledge_file()["product_map"]["classes"][class_key]


def test_every_mapped_code_is_one_lookup_to_its_classes():
    classes = _knowledge_file()["product_map"]["classes"]
    for class_key, codes in classes.items():
        for code in codes:
            assert class_key in KNOWLEDGE.medication_codes[code], (class_key, code)
    assert "medication_codes" in vars(KNOWLEDGE)  # built once when the knowledge loads, not per request


# -- low doses inside combinations -------------------------------------------------------------


def test_low_dose_b12_combination_sent_by_code_counts_as_nothing():
    low_dose = _knowledge_file()["product_map"]["not_counted"]["b12-therapy-low-dose"]
    assert "Vitamin B 12 0.125 MG" in low_dose["851209"]  # a B-vitamin and ibuprofen pack
    assert _classes("inline", "851209") == set()
    result = run(chart([obs("2132-9", 120, "pg/mL")], meds=[med(rxnorm="851209", start="2026-01-01")]))
    assert finding(result, "b12-deficiency") is not None  # not taken for current B12 therapy


def test_multivitamin_with_low_dose_b12_and_folic_acid_by_code_counts_as_neither(tmp_path):
    """The script files a multivitamin under not_counted; an engine built on that map reads
    its code as neither B12 therapy nor folic acid, while a 1 mg folic acid tablet counts."""
    table = tmp_path / "codes.csv"
    table.write_text(
        "concept_id,concept_name,concept_code,vocabulary_id\n"
        "1,cyanocobalamin 0.006 MG / folic acid 0.4 MG / Vitamin A 1000 UNT Chewable Tablet,9000001,RxNorm\n"
        "2,folic acid 1 MG Oral Tablet,9000002,RxNorm\n",
        "utf-8",
    )
    knowledge_file = tmp_path / "medications.json"
    knowledge_file.write_text(MAP_FILE.read_text("utf-8"), "utf-8")
    module = _script()
    assert (
        module.main(["--omop", str(table), "--retrieved", "2026-12-07", "--knowledge", str(knowledge_file)])
        == 0
    )
    raw = json.loads(knowledge_file.read_text("utf-8"))
    assert set(raw["product_map"]["not_counted"]["folic-acid-low-dose"]) == {"9000001"}
    assert set(raw["product_map"]["not_counted"]["b12-therapy-low-dose"]) == {"9000001"}
    knowledge = dataclasses.replace(KNOWLEDGE, medication_classes=MappingProxyType(_build_medications(raw)))
    assert _classes("inline", "9000001", knowledge=knowledge) == set()
    assert _classes("inline", "9000002", knowledge=knowledge) == {("folic-acid", "rxnorm")}


# -- the map keeps its own rules ---------------------------------------------------------------


def test_the_committed_map_keeps_the_rules_it_is_built_by():
    raw = _knowledge_file()
    assert _script().problems(raw["product_map"], raw) == []


@pytest.mark.parametrize(
    ("group", "code", "label", "broken"),
    [
        ("systemic-corticosteroid", "106258", "SCD Hydrocortisone 10 MG/ML Topical Cream", "does not count"),
        ("h2-blocker", "9000010", "SCD metformin hydrochloride 500 MG Oral Tablet", "does not count"),
        ("digoxin", "9000011", "SCD Digoxin 0.125 MG [Lanoxin]", "does not fit"),
        ("digoxin", "3407", "SCD Digoxin 0.125 MG Oral Tablet", "not a product code"),
        (
            "b12-therapy",
            "9000012",
            "SCD cyanocobalamin 0.006 MG / folic acid 0.4 MG Chewable Tablet",
            "does not count",
        ),
        ("b12-therapy-low-dose", "9000013", "SCD cyanocobalamin 1 MG Oral Tablet", "does not count"),
    ],
)
def test_a_hand_edit_that_breaks_a_rule_is_reported(group, code, label, broken):
    raw = _knowledge_file()
    product_map = raw["product_map"]
    target = product_map["not_counted" if group.endswith("-low-dose") else "classes"][group]
    target[code] = label
    if not group.endswith("-low-dose"):
        product_map["size"] += 1
    found = _script().problems(product_map, raw)
    assert len(found) == 1 and code in found[0] and broken in found[0], found


def test_a_wrong_size_is_reported():
    raw = _knowledge_file()
    raw["product_map"]["size"] += 1
    assert _script().problems(raw["product_map"], raw) == ["size is not the number of class codes"]


def test_check_fails_on_a_broken_committed_map_even_when_the_inputs_agree(tmp_path, capsys):
    table = tmp_path / "codes.csv"
    table.write_text("concept_id,concept_name,concept_code,vocabulary_id\n", "utf-8")
    knowledge_file = tmp_path / "medications.json"
    knowledge_file.write_text(MAP_FILE.read_text("utf-8"), "utf-8")
    module = _script()
    args = ["--omop", str(table), "--retrieved", "2026-12-07", "--knowledge", str(knowledge_file)]
    assert module.main(args) == 0 and module.main([*args, "--check"]) == 0
    raw = json.loads(knowledge_file.read_text("utf-8"))
    raw["product_map"]["size"] += 1
    knowledge_file.write_text(json.dumps(raw), "utf-8")
    assert module.main([*args, "--check"]) == 1
    assert "rule broken: size" in capsys.readouterr().out


# -- term types from the name's shape -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "tty"),
    [
        ("Nizatidine 15 MG/ML Oral Solution", "SCD"),
        ("Nizatidine 15 MG/ML Oral Solution [Axid]", "SBD"),
        ("Digoxin 0.125 MG", "SCDC"),
        ("Digoxin 0.125 MG [Lanoxin]", "SBDC"),
        ("Digoxin Oral Tablet", "SCDF"),
        ("Digoxin Oral Tablet [Lanoxin]", "SBDF"),
        ("Digoxin Oral Liquid Product", "SCDG"),
        ("Famotidine / Ibuprofen Pill", "SCDG"),
        ("{28 (Digoxin 0.125 MG Oral Tablet) } Pack", "GPCK"),
        ("Lanoxin", None),
        ("Digoxin", None),
    ],
)
def test_term_type_follows_from_the_name(name, tty):
    assert _script()._term_type(name) == tty


# -- FHIR value sets and examples as inputs -----------------------------------------------------

_VALUE_SET_JSON = {
    "resourceType": "ValueSet",
    "title": "Example H2 Blockers",
    "compose": {
        "include": [
            {"system": RXNORM, "concept": [{"code": "9000021", "display": "famotidine 20 MG Oral Tablet"}]}
        ],
        "exclude": [
            {"system": RXNORM, "concept": [{"code": "9000022", "display": "famotidine 40 MG Oral Tablet"}]}
        ],
    },
    "expansion": {
        "contains": [
            {"system": RXNORM, "code": "9000023", "display": "cimetidine 400 MG Oral Tablet"},
            {
                "system": "http://snomed.info/sct",
                "code": "9000024",
                "display": "ranitidine 150 MG Oral Tablet",
            },
            {"system": RXNORM, "code": "4278", "display": "famotidine"},  # the ingredient: not a product
            {"system": RXNORM, "code": "9000025", "display": "Pepcid"},  # a brand name: no dose form
            {
                "contains": [
                    {"system": RXNORM, "code": "9000026", "display": "nizatidine 150 MG Oral Capsule"}
                ]
            },
        ]
    },
}

_VALUE_SET_XML = f"""<?xml version="1.0" encoding="utf-8"?>
<ValueSet xmlns="http://hl7.org/fhir">
  <id value="valueset-digoxin"/>
  <title value="Digoxin Medications Value Set"/>
  <compose>
    <include>
      <system value="{RXNORM}"/>
      <concept><code value="9000031"/><display value="Digoxin 0.125 MG Oral Tablet [Lanoxin]"/></concept>
      <concept><code value="9000032"/><display value="Digoxin
          0.25 MG Oral Tablet"/></concept>
    </include>
    <exclude>
      <system value="{RXNORM}"/>
      <concept><code value="9000033"/><display value="Digoxin 0.05 MG/ML Oral Solution"/></concept>
    </exclude>
  </compose>
</ValueSet>
"""

_EXAMPLE = {
    "resourceType": "MedicationRequest",
    "id": "coded-oral-axid",
    "medicationCodeableConcept": {
        "coding": [{"system": RXNORM, "code": "476872", "display": "Nizatidine 15 MG/ML Oral Solution"}]
    },
    "dosageInstruction": [{"route": {"coding": [{"system": "http://snomed.info/sct", "code": "26643006"}]}}],
}


def _fhir_folder(root: Path) -> Path:
    folder = root / "fhir"
    files = {
        "example/value-sets/vocabulary/h2.json": json.dumps(_VALUE_SET_JSON),
        "example/value-sets/vocabulary/digoxin.xml": _VALUE_SET_XML,
        "example/guide/examples/mr.json": json.dumps(
            {"resourceType": "Bundle", "entry": [{"resource": _EXAMPLE}]}
        ),
    }
    for relative, text in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text, "utf-8")
    (folder / "commits.txt").write_text(
        "# versions\nexample/value-sets 0123abcd CC0-1.0\nexample/guide 4567ef01 CC0-1.0\n", "utf-8"
    )
    return folder


def test_script_reads_rxnorm_codings_of_value_sets_and_examples(tmp_path):
    folder = _fhir_folder(tmp_path)
    module = _script()
    pairs = sorted(module.read_fhir(folder, [RXNORM]))
    assert pairs == [
        ("4278", "famotidine"),
        ("476872", "Nizatidine 15 MG/ML Oral Solution"),
        ("9000021", "famotidine 20 MG Oral Tablet"),  # compose.include: the include's system
        ("9000023", "cimetidine 400 MG Oral Tablet"),
        ("9000025", "Pepcid"),
        ("9000026", "nizatidine 150 MG Oral Capsule"),  # nested contains
        ("9000031", "Digoxin 0.125 MG Oral Tablet [Lanoxin]"),
        ("9000032", "Digoxin 0.25 MG Oral Tablet"),  # a display wrapped over lines in XML
    ]  # compose.exclude (9000022, 9000033) and the SNOMED coding (9000024) are left out


def test_script_maps_fhir_inputs_and_records_their_repositories(tmp_path, capsys):
    folder = _fhir_folder(tmp_path)
    knowledge_file = tmp_path / "medications.json"
    knowledge_file.write_text(MAP_FILE.read_text("utf-8"), "utf-8")
    module = _script()
    args = ["--fhir", str(folder), "--retrieved", "2026-12-07", "--knowledge", str(knowledge_file)]
    assert module.main(args) == 0
    written = json.loads(knowledge_file.read_text("utf-8"))["product_map"]
    assert written["classes"]["h2-blocker"] == {
        "476872": "SCD Nizatidine 15 MG/ML Oral Solution",
        "9000021": "SCD famotidine 20 MG Oral Tablet",
        "9000023": "SCD cimetidine 400 MG Oral Tablet",
        "9000026": "SCD nizatidine 150 MG Oral Capsule",
    }
    assert written["classes"]["digoxin"] == {
        "9000031": "SBD Digoxin 0.125 MG Oral Tablet [Lanoxin]",
        "9000032": "SCD Digoxin 0.25 MG Oral Tablet",
    }
    assert written["sources"] == [
        {
            "name": "FHIR value sets and examples (RxNorm codings)",
            "repository": "example/guide",
            "commit": "4567ef01",
            "licence": "CC0-1.0",
            "files": [{"file": "examples/mr.json", "title": "Bundle"}],
        },
        {
            "name": "FHIR value sets and examples (RxNorm codings)",
            "repository": "example/value-sets",
            "commit": "0123abcd",
            "licence": "CC0-1.0",
            "files": [
                {"file": "vocabulary/digoxin.xml", "title": "Digoxin Medications Value Set"},
                {"file": "vocabulary/h2.json", "title": "Example H2 Blockers"},
            ],
        },
    ]
    assert module.main([*args, "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_committed_map_names_the_field_report_codes_source():
    sources = _knowledge_file()["product_map"]["sources"]
    us_core = next(s for s in sources if s.get("repository") == "HL7/US-Core")
    assert us_core["licence"] == "CC0-1.0" and len(us_core["commit"]) == 40
    assert {f["file"] for f in us_core["files"]} == {
        "input/examples/medicationrequest-coded-oral-axid.json",
        "input/examples/uscore-med2.json",
    }
