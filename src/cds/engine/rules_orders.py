"""Rules for medication orders being placed: each finding is about an order, never the chart alone."""

from __future__ import annotations

from dataclasses import replace

from cds.engine.building import (
    B12_RISK_MEDICATIONS,
    DIURETICS,
    b12_risk_causes,
    condition_cause,
    current_medication_causes,
    medication_cause,
    missing_gaps,
    ordered_unique,
    recommend_test,
    unique,
)
from cds.engine.facts import PatientFacts
from cds.engine.model import Cause, DataGap, Finding, Severity, Topic
from cds.engine.rules_b12 import b12_findings, b12_test_due
from cds.engine.rules_magnesium import long_term_ppis, magnesium_monitoring_due
from cds.knowledge import Knowledge
from cds.reader import DraftOrders, MedicationRecord, MedicationUse

B12 = "b12-therapy"
FOLIC_ACID = "folic-acid"
MAGNESIUM_PARTNERS = (*DIURETICS, "digoxin")
BEING_ORDERED = " (being ordered now)"


def _uses(records: tuple[MedicationRecord, ...], class_key: str) -> tuple[MedicationUse, ...]:
    return tuple(MedicationUse(r, key, how) for r in records for key, how in r.classes if key == class_key)


def judged_in(orders: DraftOrders, class_key: str) -> tuple[MedicationUse, ...]:
    """The orders being judged that are of this class."""
    return _uses(orders.judged, class_key)


def any_in(orders: DraftOrders, class_key: str) -> tuple[MedicationUse, ...]:
    """Every draft order of this class, judged or context."""
    return _uses((*orders.judged, *orders.context), class_key)


def order_cause(use: MedicationUse) -> Cause:
    """The drug being ordered, named as the order names it."""
    return replace(medication_cause(use), display=use.name + BEING_ORDERED)


def _by_reference(uses: tuple[MedicationUse, ...]) -> tuple[MedicationUse, ...]:
    """One record per order: an order can match a class once, but stay safe against repeats."""
    seen: dict[str, MedicationUse] = {}
    for use in uses:
        seen.setdefault(use.reference, use)
    return tuple(seen.values())


def _duplicate_b12(facts: PatientFacts, orders: DraftOrders) -> Finding | None:
    judged = _by_reference(judged_in(orders, B12))
    if not judged:
        return None
    current = facts.meds(B12)
    all_orders = _by_reference(any_in(orders, B12))
    if not current and len(all_orders) < 2:
        return None
    notes = ["b12-on-therapy"] if current else []
    notes.append("b12-duplicate-order")
    others = [o for o in all_orders if o.reference not in {j.reference for j in judged}]
    # The current course and the orders are what the card is about, not causes.
    on_record = [
        *(medication_cause(m, facts) for m in current),
        *(order_cause(o) for o in judged),
        *(order_cause(o) for o in others),
    ]
    # Only orders with an id can be named in a delete action.
    removable = tuple(order_cause(o) for o in judged if "/" in o.reference)
    gaps = [
        DataGap(o.reference, "draft order has no id, so it cannot be offered for removal")
        for o in judged
        if "/" not in o.reference
    ]
    return Finding(
        topic=Topic.B12_DUPLICATE_THERAPY,
        severity=Severity.WARNING,
        title="Vitamin B12 therapy is already current" if current else "Two vitamin B12 orders",
        on_record=unique(on_record),
        gaps=tuple(gaps),
        notes=tuple(notes),
        sources=("b12-pathway-2025", "nice-ng239"),
        remove_orders=removable,
    )


def _folate_without_b12(facts: PatientFacts, orders: DraftOrders, knowledge: Knowledge) -> Finding | None:
    folate = _by_reference(judged_in(orders, FOLIC_ACID))
    if not folate or facts.meds(B12) or any_in(orders, B12):
        return None
    # The patient-view rules decide what counts as a deficiency or an unsettled grey-zone result.
    chart = {f.topic: f for f in b12_findings(facts, knowledge)}
    documented = facts.conditions_in("b12-deficiency-documented")
    lab = chart.get(Topic.B12_DEFICIENCY) or chart.get(Topic.B12_INDETERMINATE)
    if lab is None and not documented:
        return None
    deficiency = chart.get(Topic.B12_DEFICIENCY)
    treatments = deficiency.treatments if deficiency is not None else ()
    gaps = list(lab.gaps) if lab is not None else []
    if facts.medications_unavailable and not any(g.item == "medications" for g in gaps):
        gaps.append(
            DataGap(
                "medications",
                f"medication list {facts.medication_list_state}: cannot tell whether B12 is already given",
            )
        )
    causes = list(b12_risk_causes(facts, knowledge))
    on_record = [*(order_cause(o) for o in folate), *(condition_cause(c) for c in documented)]
    notes = ["folate-masks-b12"]
    if lab is not None:
        notes += [n for n in lab.notes if n in {"b12-neuro-urgency", "b12-paediatric", "preliminary-result"}]
    if any(t.recommended and t.key.startswith("b12-im") for t in treatments):
        notes.append("b12-injection-preferred")
    return Finding(
        topic=Topic.FOLATE_WITHOUT_B12,
        severity=Severity.WARNING,
        title=(
            "Folic acid ordered with untreated B12 deficiency"
            if deficiency is not None or documented
            else "Folic acid ordered before a grey-zone B12 is settled"
        ),
        primary=lab.primary if lab is not None else None,
        evidence=lab.evidence if lab is not None else (),
        causes=unique(causes),
        on_record=unique(on_record),
        gaps=tuple(gaps),
        treatments=treatments,
        # the tests that settle a grey zone (MMA, homocysteine) or confirm it in pregnancy
        tests=lab.tests if lab is not None else (),
        notes=ordered_unique(notes),
        sources=ordered_unique(("bsh-2014", *(lab.sources if lab is not None else ()))),
        symptoms=lab.symptoms if lab is not None else (),
    )


def _test_ordered(orders: DraftOrders, knowledge: Knowledge, analytes: tuple[str, ...]) -> bool:
    return any(set(knowledge.labs[a].loincs) & orders.test_loincs for a in analytes)


def _b12_testing(facts: PatientFacts, orders: DraftOrders, knowledge: Knowledge) -> Finding | None:
    risky = _by_reference(tuple(m for key in B12_RISK_MEDICATIONS for m in judged_in(orders, key)))
    if not risky or not b12_test_due(facts):
        return None
    why = "B12-lowering medicine being ordered without a recent B12 result"
    b12_test = recommend_test(knowledge, "b12_total", why)
    if _test_ordered(orders, knowledge, ("b12_total", "holotc")):
        return None  # the test is already among the orders being placed
    metformin = any(m.class_key == "metformin" for m in risky)
    return Finding(
        topic=Topic.B12_TESTING_RECOMMENDED,
        severity=Severity.INFO,
        title="Vitamin B12 test recommended",
        causes=unique((*(order_cause(m) for m in risky), *b12_risk_causes(facts, knowledge))),
        gaps=tuple(missing_gaps(facts, knowledge, "Vitamin B12", ("b12_total", "holotc"))),
        tests=(b12_test,),
        notes=("metformin-b12",) if metformin else (),
        sources=("b12-pathway-2025", "ada-soc") if metformin else ("b12-pathway-2025",),
    )


def _magnesium_testing(facts: PatientFacts, orders: DraftOrders, knowledge: Knowledge) -> Finding | None:
    if not magnesium_monitoring_due(facts):
        return None
    ppi_orders = _by_reference(judged_in(orders, "ppi"))
    partner_orders = _by_reference(tuple(m for k in MAGNESIUM_PARTNERS for m in judged_in(orders, k)))
    chart_partners = tuple(m for k in MAGNESIUM_PARTNERS for m in facts.meds(k))
    other_partner_orders = _by_reference(
        tuple(m for k in MAGNESIUM_PARTNERS for m in any_in(orders, k) if m not in partner_orders)
    )
    chart_ppis = facts.meds("ppi")
    causes: list[Cause] = []
    if ppi_orders and (chart_partners or partner_orders or other_partner_orders):
        causes += [order_cause(m) for m in ppi_orders]
        causes += [order_cause(m) for m in (*partner_orders, *other_partner_orders)]
        causes += current_medication_causes(facts, MAGNESIUM_PARTNERS)
    if partner_orders and long_term_ppis(chart_ppis, facts, knowledge):
        causes += [order_cause(m) for m in partner_orders]
        causes += current_medication_causes(facts, ("ppi",))
    if not causes:
        return None
    why = "PPI with a diuretic or digoxin, one of them being ordered"
    magnesium = recommend_test(knowledge, "magnesium", why)
    if _test_ordered(orders, knowledge, ("magnesium",)):
        return None
    digoxin = bool(facts.meds("digoxin") or any_in(orders, "digoxin"))
    return Finding(
        topic=Topic.MAGNESIUM_TESTING_RECOMMENDED,
        severity=Severity.INFO,
        title="Magnesium test recommended",
        causes=unique(causes),
        gaps=tuple(missing_gaps(facts, knowledge, "Magnesium", ("magnesium",))),
        tests=(magnesium,),
        notes=("ppi-magnesium-baseline", "ppi-magnesium", *(("magnesium-digoxin",) if digoxin else ())),
        sources=("fda-ppi-magnesium-2011",),
    )


def order_findings(facts: PatientFacts, orders: DraftOrders, knowledge: Knowledge) -> list[Finding]:
    if not orders.judged:
        return []  # nothing being ordered that the guideline knows about: stay silent
    findings = [
        _duplicate_b12(facts, orders),
        _folate_without_b12(facts, orders, knowledge),
        _b12_testing(facts, orders, knowledge),
        _magnesium_testing(facts, orders, knowledge),
    ]
    return [f for f in findings if f is not None]
