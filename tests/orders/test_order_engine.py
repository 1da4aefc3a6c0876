"""assess_orders: findings about the medication orders being placed, judged against the chart."""

from __future__ import annotations

from typing import Any

import pytest

from cds.engine import assess_orders
from cds.engine.model import Topic
from cds.reader import KeyProblem, KeyState
from tests.engine.engine_fhir import KNOWLEDGE, NOW, PID, chart, cond, med, obs

B12_DEFICIENT = obs("2132-9", 140, "pg/mL", "2026-10-20")
B12_NORMAL = obs("2132-9", 480, "pg/mL", "2026-10-20")
B12_GREY = obs("2132-9", 250, "pg/mL", "2026-10-20")


def order(ident: str, *, subject: str = PID, status: str = "draft", **coding: Any) -> dict[str, Any]:
    resource = med(status=status, start="2026-11-01", **coding)
    resource["id"] = ident
    resource["subject"] = {"reference": f"Patient/{subject}"}
    return resource


def drafts(*orders: dict[str, Any], with_type: bool = True) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "entry": [{"resource": o} for o in orders]}
    if with_type:
        bundle["type"] = "collection"
    return bundle


def run(prefetch: dict[str, Any], draft: dict[str, Any], selections=None, unavailable=None):
    return assess_orders(prefetch, draft, PID, NOW, KNOWLEDGE, unavailable, selections)


def topics(assessment) -> set[str]:
    return {f.topic.value for f in assessment.findings}


def finding(assessment, topic: Topic):
    return next(f for f in assessment.findings if f.topic == topic)


# ---------------------------------------------------------------- duplicate B12
def test_b12_ordered_while_b12_is_current_is_a_duplicate_naming_the_order() -> None:
    current = med("MedicationStatement", rxnorm="11248", text="Cyanocobalamin 1000 mcg", start="2026-03-01")
    result = run(chart([B12_NORMAL], statements=[current]), drafts(order("new-b12", rxnorm="11248")))
    found = finding(result, Topic.B12_DUPLICATE_THERAPY)
    assert found.severity.value == "warning"
    assert [c.reference for c in found.remove_orders] == ["MedicationRequest/new-b12"]
    assert any("since 2026-03-01" in c.display and "Cyanocobalamin" in c.display for c in found.on_record)
    assert found.causes == ()  # the current course and the orders are not causes


def test_two_b12_orders_together_are_a_duplicate_without_b12_in_the_chart() -> None:
    result = run(
        chart([B12_NORMAL]),
        drafts(order("a", rxnorm="11248"), order("b", text="hydroxocobalamin injection"), with_type=False),
    )
    found = finding(result, Topic.B12_DUPLICATE_THERAPY)
    assert {c.reference for c in found.remove_orders} == {"MedicationRequest/a", "MedicationRequest/b"}


def test_one_b12_order_and_no_b12_in_the_chart_is_silent() -> None:
    assert run(chart([B12_NORMAL]), drafts(order("a", rxnorm="11248"))).findings == ()


def test_stopped_b12_in_the_chart_is_no_duplicate() -> None:
    stopped = med(rxnorm="11248", status="stopped", start="2025-01-01")
    assert run(chart([B12_NORMAL], meds=[stopped]), drafts(order("a", atc="B03BA03"))).findings == ()


# ---------------------------------------------------------------- folic acid
def test_folic_acid_with_a_deficient_b12_and_no_b12_therapy_warns_and_offers_b12() -> None:
    result = run(chart([B12_DEFICIENT]), drafts(order("fa", rxnorm="4511")))
    found = finding(result, Topic.FOLATE_WITHOUT_B12)
    assert found.severity.value == "warning"
    assert found.primary is not None and found.primary.value == 140
    assert [t.key for t in found.treatments] == ["b12-oral", "b12-sublingual", "b12-im"]
    assert any(c.reference == "MedicationRequest/fa" for c in found.on_record)
    assert not any(c.reference == "MedicationRequest/fa" for c in found.causes)  # the order is no cause
    assert "folate-masks-b12" in found.notes


def test_folic_acid_with_a_normal_b12_is_silent() -> None:
    assert run(chart([B12_NORMAL]), drafts(order("fa", rxnorm="4511"))).findings == ()


def test_folic_acid_with_an_unsettled_grey_zone_b12_warns_without_treatment() -> None:
    found = finding(run(chart([B12_GREY]), drafts(order("fa", atc="B03BB01"))), Topic.FOLATE_WITHOUT_B12)
    assert found.treatments == ()
    assert "grey-zone" in found.title


@pytest.mark.parametrize(
    ("labs", "conditions", "tests"),
    [
        ([B12_GREY], [], ["mma", "homocysteine"]),  # the card offers what settles the grey zone
        ([B12_GREY, obs("13964-2", 0.2, "umol/L", "2026-10-20")], [], []),  # settled: silent anyway
        ([B12_DEFICIENT], [cond("Z33.1")], ["holotc", "mma"]),  # pregnancy: confirm with active B12, MMA
        ([B12_DEFICIENT], [], []),
    ],
)
def test_folic_acid_card_offers_the_tests_its_b12_finding_needs(labs, conditions, tests) -> None:
    result = run(chart(labs, conditions=conditions), drafts(order("fa", rxnorm="4511")))
    found = next((f for f in result.findings if f.topic == Topic.FOLATE_WITHOUT_B12), None)
    assert ([t.key for t in found.tests] if found else []) == tests


def test_folic_acid_with_coded_pernicious_anaemia_warns() -> None:
    result = run(chart([B12_NORMAL], conditions=[cond("D51.0")]), drafts(order("fa", text="Folic acid 5 mg")))
    found = finding(result, Topic.FOLATE_WITHOUT_B12)
    assert found.primary is None and found.treatments == ()
    assert any(c.kind == "condition" for c in found.on_record)


@pytest.mark.parametrize("where", ["chart", "order"])
def test_folic_acid_is_silent_when_b12_is_current_or_ordered(where: str) -> None:
    b12 = med(rxnorm="11248", start="2026-10-25")
    orders = [order("fa", rxnorm="4511")]
    if where == "order":
        orders.append(order("b12", rxnorm="11248"))
    prefetch = chart([B12_DEFICIENT], meds=[b12] if where == "chart" else [])
    assert Topic.FOLATE_WITHOUT_B12 not in {f.topic for f in run(prefetch, drafts(*orders)).findings}


def test_no_b12_option_when_the_medication_list_is_unavailable() -> None:
    result = run(
        chart([B12_DEFICIENT]),
        drafts(order("fa", rxnorm="4511")),
        unavailable={"medicationRequests": "FHIR server answered 503"},
    )
    found = finding(result, Topic.FOLATE_WITHOUT_B12)
    assert found.treatments == ()
    assert any(g.item == "medications" for g in found.gaps)


@pytest.mark.parametrize(
    ("unavailable", "expected", "absent"),
    [
        (
            {"medicationRequests": "incomplete: the EHR sent 2 of 230 entries"},
            "medication list only partly available",
            "unavailable",
        ),
        (
            {
                "medicationStatements": "incomplete: the EHR sent 5 of 9 entries",
                "medicationRequests": "incomplete: the EHR sent one page (3 entries) and no more",
            },
            "medication list only partly available",
            "unavailable",
        ),
        ({"medicationRequests": "FHIR server answered 503"}, "medication list unavailable", "incomplete"),
        (
            {
                "medicationRequests": "incomplete: the EHR sent 2 of 230 entries",
                "medicationStatements": "timeout",
            },
            "medication list unavailable",
            "partly",
        ),
    ],
)
def test_the_medication_gap_says_partly_available_or_unavailable_without_paging_words(
    unavailable: dict[str, str], expected: str, absent: str
) -> None:
    # a partial list, as the prefetch resolver marks it; any other reason: the key is missing
    states = {
        key: KeyState(key, KeyProblem.PARTIAL, why.removeprefix("incomplete: "))
        if why.startswith("incomplete: ")
        else KeyState(key, KeyProblem.FAILED, why)
        for key, why in unavailable.items()
    }
    found = finding(
        run(chart([B12_DEFICIENT]), drafts(order("fa", rxnorm="4511")), unavailable=states),
        Topic.FOLATE_WITHOUT_B12,
    )
    words = next(g.reason for g in found.gaps if g.item == "medications")
    assert expected in words
    assert absent not in words
    assert "entries" not in words and "page" not in words


# ---------------------------------------------------------------- B12 testing
@pytest.mark.parametrize("coding", [{"rxnorm": "6809"}, {"atc": "A02BC01"}, {"text": "famotidine 20 mg"}])
def test_b12_lowering_order_without_a_recent_b12_suggests_the_test(coding: dict[str, str]) -> None:
    found = finding(run(chart(), drafts(order("x", **coding))), Topic.B12_TESTING_RECOMMENDED)
    assert [t.key for t in found.tests] == ["b12_total"]
    assert found.causes[0].reference == "MedicationRequest/x"


def test_metformin_order_with_a_recent_b12_is_silent() -> None:
    assert run(chart([B12_NORMAL]), drafts(order("x", rxnorm="6809"))).findings == ()


def test_stale_b12_counts_as_missing_and_says_so() -> None:
    stale = obs("2132-9", 480, "pg/mL", "2024-01-10")
    found = finding(run(chart([stale]), drafts(order("x", rxnorm="6809"))), Topic.B12_TESTING_RECOMMENDED)
    assert any("older than" in g.reason for g in found.gaps)


def test_b12_test_already_among_the_draft_orders_is_not_suggested_again() -> None:
    test_order = {
        "resourceType": "ServiceRequest",
        "id": "sr1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{PID}"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
    }
    assert run(chart(), drafts(order("x", rxnorm="6809"), test_order)).findings == ()


def test_b12_testing_is_silent_when_observations_are_unavailable() -> None:
    result = run(chart(), drafts(order("x", rxnorm="6809")), unavailable={"observations": "timeout"})
    assert result.findings == ()


# ---------------------------------------------------------------- magnesium testing
def test_ppi_ordered_with_a_current_diuretic_suggests_magnesium() -> None:
    prefetch = chart([B12_NORMAL], meds=[med(rxnorm="4603", start="2024-05-01")])
    found = finding(run(prefetch, drafts(order("ppi", rxnorm="40790"))), Topic.MAGNESIUM_TESTING_RECOMMENDED)
    assert [t.key for t in found.tests] == ["magnesium"]
    assert {"ppi-magnesium-baseline", "ppi-magnesium"} <= set(found.notes)


def test_ppi_and_digoxin_ordered_together_suggest_magnesium_with_the_digoxin_note() -> None:
    result = run(chart([B12_NORMAL]), drafts(order("ppi", rxnorm="7646"), order("dig", rxnorm="3407")))
    assert "magnesium-digoxin" in finding(result, Topic.MAGNESIUM_TESTING_RECOMMENDED).notes


def test_diuretic_ordered_for_a_long_term_ppi_user_suggests_magnesium() -> None:
    prefetch = chart([B12_NORMAL], meds=[med(rxnorm="7646", start="2024-01-01")])
    result = run(prefetch, drafts(order("hctz", rxnorm="5487")))
    assert topics(result) == {"magnesium-testing-recommended"}


def test_diuretic_ordered_for_a_recent_ppi_user_is_silent() -> None:
    prefetch = chart([B12_NORMAL], meds=[med(rxnorm="7646", start="2026-09-01")])
    assert run(prefetch, drafts(order("hctz", rxnorm="5487"))).findings == ()


def test_ppi_alone_with_a_recent_magnesium_is_silent_about_magnesium() -> None:
    prefetch = chart([B12_NORMAL, obs("19123-9", 2.0, "mg/dL", "2026-10-20")], meds=[med(rxnorm="4603")])
    assert run(prefetch, drafts(order("ppi", rxnorm="40790"))).findings == ()


# ---------------------------------------------------------------- which orders count
def test_order_select_judges_only_the_selected_order() -> None:
    current = med("MedicationStatement", rxnorm="11248", start="2026-01-01")
    prefetch = chart(statements=[current])
    both = drafts(order("met", rxnorm="6809"), order("b12", rxnorm="11248"))
    assert topics(run(prefetch, both, selections=["MedicationRequest/met"])) == {"b12-testing-recommended"}
    assert topics(run(prefetch, both, selections=["MedicationRequest/b12"])) == {"b12-duplicate-therapy"}
    assert topics(run(prefetch, both)) == {"b12-duplicate-therapy", "b12-testing-recommended"}


def test_a_selection_may_name_the_entry_full_url() -> None:
    bundle = drafts(order("met", rxnorm="6809"))
    bundle["entry"][0]["fullUrl"] = "urn:uuid:5f1c0d4e-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
    selected = run(chart(), bundle, selections=["urn:uuid:5f1c0d4e-7a8b-4c9d-8e0f-1a2b3c4d5e6f"])
    assert topics(selected) == {"b12-testing-recommended"}
    assert run(chart(), bundle, selections=["MedicationRequest/other"]).findings == ()


def test_draft_orders_of_another_patient_are_ignored() -> None:
    result = run(chart([B12_DEFICIENT]), drafts(order("fa", rxnorm="4511", subject="someone-else")))
    assert result.findings == ()


@pytest.mark.parametrize("status", ["cancelled", "entered-in-error", "completed", "stopped"])
def test_orders_no_longer_being_placed_are_ignored(status: str) -> None:
    assert run(chart([B12_DEFICIENT]), drafts(order("fa", rxnorm="4511", status=status))).findings == ()


def test_a_medication_statement_in_draft_orders_is_not_an_order() -> None:
    statement = med("MedicationStatement", rxnorm="4511", status="active")
    assert run(chart([B12_DEFICIENT]), drafts(statement)).findings == ()


def test_a_chart_that_would_alarm_patient_view_stays_silent_without_a_relevant_order() -> None:
    prefetch = chart([B12_DEFICIENT], meds=[med(rxnorm="6809")])
    assert run(prefetch, drafts(order("x", text="paracetamol 500 mg"))).findings == ()


def test_a_bundled_medication_resource_is_followed() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "fol",
        "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "4511"}]},
    }
    draft_order = order("fa", reference="Medication/fol")
    bundle = drafts(draft_order)
    bundle["entry"].append({"resource": medication})
    assert topics(run(chart([B12_DEFICIENT]), bundle)) == {"folate-without-b12"}


@pytest.mark.parametrize(
    "draft",
    [
        None,
        "text",
        {"resourceType": "Bundle"},
        {"resourceType": "Bundle", "entry": "x"},
        {"entry": [1, None]},
    ],
)
def test_malformed_draft_orders_never_raise(draft: Any) -> None:
    assert run(chart([B12_DEFICIENT]), draft).findings == ()


def test_every_key_an_order_finding_emits_exists_in_the_knowledge() -> None:
    current = med("MedicationStatement", rxnorm="11248", start="2026-03-01")
    scenarios = [
        (chart([B12_NORMAL], statements=[current]), drafts(order("b", rxnorm="11248"))),
        (chart([B12_DEFICIENT], conditions=[cond("R25.3")]), drafts(order("fa", rxnorm="4511"))),
        (chart(meds=[med(rxnorm="3407")]), drafts(order("p", rxnorm="7646"), order("m", rxnorm="6809"))),
    ]
    seen = set()
    for prefetch, draft in scenarios:
        for found in run(prefetch, draft).findings:
            seen.add(found.topic)
            assert set(found.notes) <= set(KNOWLEDGE.notes)
            assert set(found.sources) <= set(KNOWLEDGE.sources)
            assert all(t.key in KNOWLEDGE.tests for t in found.tests)
    assert seen == {
        Topic.B12_DUPLICATE_THERAPY,
        Topic.FOLATE_WITHOUT_B12,
        Topic.B12_TESTING_RECOMMENDED,
        Topic.MAGNESIUM_TESTING_RECOMMENDED,
    }


# ------------------------------------------------- folic acid inside multivitamins (dose rule)
@pytest.mark.parametrize(
    ("name", "warns"),
    [
        ("Folic acid 5 MG Oral Tablet", True),  # therapeutic folic acid alone
        ("folic acid 0.4 MG Oral Tablet", True),  # folic acid alone counts at any strength
        ("cyanocobalamin 0.006 MG / folic acid 0.4 MG / Vitamin A 1000 UNT Chewable Tablet", False),
        ("Prenatal multivitamin with folic acid 800 mcg", False),
        ("Multivitamin with folic acid", False),  # no amount stated: a multivitamin, not therapy
        ("folic acid 1 MG / pyridoxine 25 MG Oral Tablet", True),  # 1 mg per unit: therapeutic
        ("ascorbic acid 60 MG / folic acid 1000 MCG / iron 29 MG Oral Tablet", True),
    ],
)
def test_folic_acid_order_counts_by_dose_when_combined(name: str, warns: bool) -> None:
    result = run(chart([B12_DEFICIENT]), drafts(order("fa", text=name)))
    assert (Topic.FOLATE_WITHOUT_B12.value in topics(result)) is warns
