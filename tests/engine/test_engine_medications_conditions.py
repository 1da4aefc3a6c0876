"""Medication and condition coding paths and status rules."""

from __future__ import annotations

import pytest

from tests.engine.engine_fhir import ICD10, PID, SNOMED, bundle, chart, cond, med, run, topics


def classes(resources):
    return sorted({(m.class_key, m.matched_by, m.state) for m in run(resources).facts.medications})


@pytest.mark.parametrize(
    ("medication", "expected"),
    [
        (med(rxnorm="6809"), [("metformin", "rxnorm", "current")]),
        (med(rxnorm="861007"), [("metformin", "rxnorm", "current")]),
        (med(atc="A02BC01"), [("ppi", "atc", "current")]),
        (med(text="Omeprazole 20 mg capsule"), [("ppi", "name", "current")]),
        (med(text="NEXIUM 40mg"), [("ppi", "name", "current")]),
        (med(text="Vitamin B12 1000 mcg"), [("b12-therapy", "name", "current")]),
        (med(text="Hydroxocobalamin injection"), [("b12-therapy", "name", "current")]),
        (med(text="omeprazolex"), []),  # whole words only
        (med(rxnorm="99999999", text="Lasix 40 mg"), [("loop-diuretic", "name", "current")]),
        (med(atc="C03AA03"), [("thiazide-diuretic", "atc", "current")]),
        (med(atc="H02AB06"), [("systemic-corticosteroid", "atc", "current")]),
        (med(rxnorm="3407"), [("digoxin", "rxnorm", "current")]),
        (med(atc="B03BA05"), [("b12-therapy", "atc", "current")]),
        (med(text="B12 1000 mcg daily"), [("b12-therapy", "name", "current")]),
        (med(text="Vitamin B-12 tablet"), [("b12-therapy", "name", "current")]),
        (
            med(text="Lisinopril/HCTZ 20/12.5"),
            [("potassium-raising", "name", "current"), ("thiazide-diuretic", "text", "current")],
        ),
    ],
)
def test_medication_coding_paths(medication, expected):
    assert classes(chart(meds=[medication])) == expected


def test_contained_and_bundled_medication_resources():
    contained = {
        "resourceType": "Medication",
        "id": "med1",
        "code": {"text": "Combination tablet"},
        "ingredient": [
            {
                "itemCodeableConcept": {
                    "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "6809"}]
                }
            }
        ],
    }
    request = med(reference="#med1", contained=[contained])
    assert classes(chart(meds=[request])) == [("metformin", "rxnorm", "current")]
    bundled = {
        "resourceType": "Medication",
        "id": "pp",
        "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "A02BC02"}]},
    }
    resources = chart(meds=[med(reference="Medication/pp")])
    resources["medicationRequests"]["entry"].append({"resource": bundled})
    assert classes(resources) == [("ppi", "atc", "current")]


@pytest.mark.parametrize(
    ("kind", "status", "state"),
    [
        ("MedicationStatement", "active", "current"),
        ("MedicationStatement", "intended", "current"),
        ("MedicationStatement", "on-hold", "current"),
        ("MedicationStatement", "completed", "past"),
        ("MedicationStatement", "stopped", "past"),
        ("MedicationStatement", "unknown", "uncertain"),
        ("MedicationStatement", "entered-in-error", None),
        ("MedicationStatement", "not-taken", None),
        ("MedicationRequest", "active", "current"),
        ("MedicationRequest", "on-hold", "current"),
        ("MedicationRequest", "draft", "uncertain"),
        ("MedicationRequest", "cancelled", None),
    ],
)
def test_medication_status(kind, status, state):
    resource = med(kind, rxnorm="6809", status=status)
    key = "medicationStatements" if kind == "MedicationStatement" else "medicationRequests"
    resources = chart()
    resources[key] = bundle(resource)
    found = [m.state for m in run(resources).facts.medications]
    assert found == ([state] if state else [])


def test_other_patients_medications_are_ignored():
    other = med(rxnorm="6809")
    other["subject"] = {"reference": "Patient/p2"}
    assert classes(chart(meds=[other])) == []


def test_start_dates_are_kept():
    statement = med("MedicationStatement", rxnorm="7646", start="2023-02-03")
    (use,) = run(chart(statements=[statement])).facts.medications
    assert use.start.raw == "2023-02-03"


@pytest.mark.parametrize(
    ("code", "system", "value_set"),
    [
        ("32402008", SNOMED, "twitching"),
        ("G51.3", ICD10, "twitching"),
        ("G513", ICD10, "twitching"),
        ("R25.3", "http://hl7.org/fhir/sid/icd-10", "twitching"),
        ("G51.4", ICD10, "twitching"),
        ("G62.9", ICD10, "neuropathy"),
        ("G51.0", ICD10, "red-flags"),
        ("G12.21", ICD10, "red-flags"),
        ("K50.90", ICD10, "malabsorption"),
        ("Z98.84", ICD10, "malabsorption"),
        ("84027009", SNOMED, "malabsorption"),
        ("F10.20", ICD10, "other-b12-risks"),
        ("E53.8", ICD10, "b12-deficiency-documented"),
        ("K50.90", SNOMED, None),  # right code, wrong system
        ("G51.3", "http://example.org/local", None),
    ],
)
def test_condition_coding_paths(code, system, value_set):
    found = {c.value_set for c in run(chart(conditions=[cond(code, system)])).facts.conditions}
    assert (value_set in found) if value_set else not found


@pytest.mark.parametrize(
    ("clinical", "verification", "counted"),
    [
        ("active", None, True),
        ("recurrence", "confirmed", True),
        ("relapse", "provisional", True),
        ("inactive", None, False),
        ("resolved", None, False),
        ("active", "refuted", False),
        ("active", "entered-in-error", False),
        (None, None, True),  # no clinicalStatus (an encounter diagnosis): counted
        (None, "refuted", False),
    ],
)
def test_condition_status(clinical, verification, counted):
    resources = chart(conditions=[cond("R25.3", clinical=clinical, verification=verification)])
    assert bool(run(resources).facts.conditions) is counted


def test_condition_without_status_but_with_an_abatement_is_not_current():
    resource = cond("R25.3", clinical=None)
    resource["abatementDateTime"] = "2025-03-01"
    assert run(chart(conditions=[resource])).facts.conditions == ()


def test_other_patients_conditions_are_ignored():
    assert run(chart(conditions=[cond("R25.3", subject="p2")])).facts.conditions == ()
    assert PID == "p1"


def _named_condition(label: str, *, code: str = "999999999", in_text: bool = True) -> dict:
    resource = cond(code, SNOMED)
    if in_text:
        resource["code"]["text"] = label
    else:
        resource["code"]["coding"][0]["display"] = label
    return resource


@pytest.mark.parametrize(
    ("label", "in_text", "value_set", "member"),
    [
        ("Hemifacial spasm", True, "twitching", "hemifacial-spasm"),
        ("Fasciculations of calf muscles", False, "twitching", "fasciculation"),
        ("Bell's palsy, left", True, "red-flags", "bells-palsy"),
        ("Amyotrophic lateral sclerosis", False, "red-flags", "motor-neuron-disease"),
        ("Coeliac disease", True, "malabsorption", "coeliac-disease"),
        ("Vegan diet", True, "other-b12-risks", "vegan-diet"),
        ("Tingling in both feet", True, "neuropathy", "paraesthesia"),
    ],
)
def test_conditions_match_by_display_text_when_no_code_is_known(label, in_text, value_set, member):
    found = run(chart(conditions=[_named_condition(label, in_text=in_text)])).facts.conditions
    match = next(c for c in found if c.value_set == value_set)
    assert (match.member, match.matched_by) == (member, "text")


@pytest.mark.parametrize("label", ["Celiacalgia", "Backache of the twitchingham type", "Palsy"])
def test_text_matching_needs_whole_words(label):
    found = {c.member for c in run(chart(conditions=[_named_condition(label)])).facts.conditions}
    assert "coeliac-disease" not in found and "facial-spasm" not in found and "bells-palsy" not in found


def test_a_known_code_wins_over_text():
    resource = cond("G51.3")
    resource["code"]["text"] = "Hemifacial spasm"
    (match,) = [c for c in run(chart(conditions=[resource])).facts.conditions if c.value_set == "twitching"]
    assert match.matched_by == "icd10"


def test_twitching_named_only_in_text_starts_the_work_up():
    result = run(chart(conditions=[_named_condition("Facial twitching")]))
    assert "twitching-workup" in topics(result)


@pytest.mark.parametrize(
    "label",
    [
        "Family history of amyotrophic lateral sclerosis",
        "FH: Bell's palsy",
        "No facial weakness",
        "Facial droop ruled out",
        "History of hemifacial spasm",
        "Denies twitching",
    ],
)
def test_text_that_negates_or_names_a_relative_never_matches(label):
    assert run(chart(conditions=[_named_condition(label)])).facts.conditions == ()


def test_a_coded_condition_is_matched_whatever_its_text_says():
    resource = cond("G12.21")
    resource["code"]["text"] = "No known history"
    assert [c.member for c in run(chart(conditions=[resource])).facts.conditions] == ["motor-neuron-disease"]


def test_ordinary_qualifiers_do_not_block_a_text_match():
    label = "Coeliac disease without complication"  # a common display wording
    found = run(chart(conditions=[_named_condition(label)])).facts.conditions
    assert [c.member for c in found] == ["coeliac-disease"]
