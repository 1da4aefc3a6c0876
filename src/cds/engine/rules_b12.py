"""Vitamin B12 rules: deficiency, indeterminate results, testing, high B12 and monitoring."""

from __future__ import annotations

from dataclasses import dataclass, replace

from cds.engine.building import (
    B12_RISK_MEDICATIONS,
    b12_risk_causes,
    condition_cause,
    current_medication_causes,
    evidence,
    is_child,
    lab_gaps,
    medication_cause,
    missing_gaps,
    neuro_symptoms,
    ordered_unique,
    preliminary,
    recommend_test,
    uncertain_medication_causes,
    unique,
)
from cds.engine.compare import above, below, cutoff_words
from cds.engine.facts import PatientFacts
from cds.engine.model import DataGap, Evidence, Finding, Severity, TestRecommendation, Topic, TreatmentOption
from cds.knowledge import Knowledge
from cds.reader import LabResult
from cds.reader.dates import months_before

B12_ANALYTES = ("b12_total", "holotc", "mma", "homocysteine")
_BANDS = {
    "b12_total": ("b12_total_deficient", "b12_total_indeterminate_upper"),
    "holotc": ("holotc_deficient", "holotc_indeterminate_upper"),
}
_MARKERS = {"mma": "mma_elevated", "homocysteine": "homocysteine_elevated"}


def band(result: LabResult, knowledge: Knowledge) -> str:
    """'deficient', 'indeterminate', 'normal', or 'unclear' when a comparator leaves it open.

    'unclear-low' means the value may be deficient (e.g. '<200' against 180): it is handled
    like an indeterminate result and never as a confident deficiency.
    """
    low_key, high_key = _BANDS[result.analyte]
    is_low = below(result, low_key, knowledge)
    if is_low is True:
        return "deficient"
    if is_low is None:
        return "unclear-low"
    is_high = above(result, high_key, knowledge)
    if is_high is False:
        return "indeterminate"
    return "normal" if is_high else "unclear-high"


def _band_evidence(result: LabResult, status: str, knowledge: Knowledge) -> Evidence:
    low_key, high_key = _BANDS[result.analyte]
    if status == "deficient":
        return evidence(result, knowledge, low_key, "<")
    # Both ends in the unit the result was judged in (133-258 pmol/L for a molar B12).
    _, low, unit = cutoff_words(result, low_key, "<", knowledge).split(" ", 2)
    _, high, _ = cutoff_words(result, high_key, "<", knowledge).split(" ", 2)
    note = None
    if status == "unclear-low":
        note = f"reported as {result.reported}: cannot tell whether it is below {low} {unit}"
    ev = evidence(result, knowledge, low_key, "<", note)
    return replace(ev, cutoff=f"{low}-{high} {unit} indeterminate", cutoff_figures=(low, high))


@dataclass(frozen=True)
class B12Status:
    deficient: tuple[LabResult, ...]  # recent results in the deficient band
    grey: tuple[LabResult, ...]  # recent indeterminate or unclear-low results
    bands: dict[str, str]  # reference -> band
    # A deficient total B12 with a normal active B12 measured that day or later: the markers
    # disagree, so it is handled as a grey zone (MMA or homocysteine settles it). Also in grey.
    discordant: LabResult | None = None
    settling_holotc: LabResult | None = None


def b12_status(facts: PatientFacts, knowledge: Knowledge) -> B12Status:
    recent = [r for r in (facts.recent("holotc"), facts.recent("b12_total")) if r is not None]
    bands = {r.reference: band(r, knowledge) for r in recent}
    holotc = facts.recent("holotc")
    # Active B12 is the earlier, more specific marker: a normal one measured on the day of a
    # grey-zone total B12 or later makes deficiency unlikely, so that grey result asks nothing.
    settled_by_holotc = holotc is not None and bands[holotc.reference] == "normal"
    grey = tuple(
        r
        for r in recent
        if bands[r.reference] in {"indeterminate", "unclear-low"}
        and not (settled_by_holotc and r.analyte == "b12_total" and holotc.when.day >= r.when.day)
    )
    discordant = next(
        (
            r
            for r in recent
            if settled_by_holotc
            and r.analyte == "b12_total"
            and bands[r.reference] == "deficient"
            and holotc.when.day >= r.when.day
        ),
        None,
    )
    return B12Status(
        deficient=tuple(r for r in recent if bands[r.reference] == "deficient" and r is not discordant),
        grey=(*grey, discordant) if discordant is not None else grey,
        bands=bands,
        discordant=discordant,
        settling_holotc=holotc if discordant is not None else None,
    )


def _marker_results(facts: PatientFacts, after: LabResult) -> dict[str, LabResult]:
    """Newest recent MMA and homocysteine measured on the day of `after` or later."""
    found = {}
    for analyte in _MARKERS:
        for result in facts.recent_results(analyte):
            if result.when.day >= after.when.day:
                found[analyte] = result
                break
    return found


def _b12_therapy_uncertain(facts: PatientFacts) -> bool:
    return facts.medications_unavailable or bool(facts.meds("b12-therapy", "uncertain"))


def _treatment_gaps(facts: PatientFacts, knowledge: Knowledge) -> list[DataGap]:
    """Why the card offers no B12 order: said where the clinician looks for what is missing."""
    gaps = []
    if is_child(facts, knowledge):
        why = "a child's B12 dose needs paediatric advice, so no dose is suggested"
        gaps.append(DataGap("Age", f"{facts.age_words} years: {why}"))
    if facts.age is None:
        gaps.append(
            DataGap("Age", "unknown (no usable birth date): no dose suggested, as adult doses may not apply")
        )
    if facts.medications_unavailable:
        gaps.append(
            DataGap(
                "medications",
                f"medication list {facts.medication_list_state}: cannot tell whether the patient already "
                "takes B12, so no treatment is offered",
            )
        )
    for use in facts.meds("b12-therapy", "uncertain"):
        gaps.append(
            DataGap(
                use.reference,
                f"B12 therapy on record with {use.note or f'status {use.status!r}'}: cannot tell whether "
                "it is taken, so no treatment is offered",
            )
        )
    return gaps


def _treatments(facts: PatientFacts, knowledge: Knowledge, symptoms: bool) -> tuple[TreatmentOption, ...]:
    if _b12_therapy_uncertain(facts):
        return ()
    if facts.age is None or is_child(facts, knowledge):
        # The options carry adult doses: unknown age is not adult age, and a child's dose is
        # a clinician's decision.
        return ()
    injection = symptoms or bool(facts.conditions_in("malabsorption"))
    options = (
        TreatmentOption("b12-oral", recommended=not injection),
        TreatmentOption("b12-sublingual", recommended=False),
        # Neurological involvement: load on alternate days before the maintenance injections.
        TreatmentOption("b12-im-neuro" if symptoms else "b12-im", recommended=injection),
    )
    return tuple(sorted(options, key=lambda o: not o.recommended))  # the recommended one first


def _pregnant(facts: PatientFacts) -> bool:
    return any(c.member == "pregnancy" for c in facts.conditions_in("other-b12-risks"))


def _pregnancy_tests(
    facts: PatientFacts, knowledge: Knowledge, items: tuple[Evidence, ...]
) -> tuple[TestRecommendation, ...]:
    """In pregnancy a total B12 alone is hard to read: ask for active B12 and MMA, unless done."""
    if not _pregnant(facts) or any(e.analyte in {"holotc", "mma"} for e in items):
        return ()
    why = "total B12 falls in normal pregnancy; active B12 or MMA confirms deficiency"
    wanted = (key for key in ("holotc", "mma") if facts.recent(key) is None)
    return tuple(recommend_test(knowledge, key, why) for key in wanted)


def _common_notes(facts: PatientFacts, knowledge: Knowledge, symptoms: bool) -> list[str]:
    notes = ["b12-pregnancy"] if _pregnant(facts) else []
    if symptoms:
        notes.append("b12-neuro-urgency")
    if is_child(facts, knowledge):
        notes.append("b12-paediatric")
    if facts.conditions_in("red-flags") and facts.conditions_in("twitching"):
        notes.append("red-flags-present")
    return notes


def _sources(items: tuple[Evidence, ...], extra: tuple[str, ...]) -> tuple[str, ...]:
    return ordered_unique((*extra, *(e.source for e in items)))


def _deficiency(
    facts: PatientFacts,
    knowledge: Knowledge,
    primary: Evidence,
    items: tuple[Evidence, ...],
    settled_by: frozenset[str] = frozenset(),
) -> Finding:
    """`settled_by`: the raised markers that turned a grey-zone result into a deficiency."""
    symptoms = neuro_symptoms(facts, knowledge)
    treatments = _treatments(facts, knowledge, bool(symptoms))
    notes = _common_notes(facts, knowledge, bool(symptoms))
    if settled_by == {"homocysteine"}:
        # Homocysteine alone is the least specific confirmation: say what else raises it.
        notes.append("homocysteine-nonspecific")
    notes += ["folate-caution", "b12-review"]
    if any(t.recommended and t.key.startswith("b12-im") for t in treatments):
        notes.append("b12-injection-preferred")
    if any(e.analyte == "mma" for e in items):
        notes.append("mma-renal")
    if preliminary(items):
        notes.append("preliminary-result")
    return Finding(
        topic=Topic.B12_DEFICIENCY,
        tests=_pregnancy_tests(facts, knowledge, items),
        severity=Severity.WARNING,
        title="Vitamin B12 deficiency",
        primary=primary,
        evidence=items,
        causes=b12_risk_causes(facts, knowledge),
        gaps=tuple(lab_gaps(facts, B12_ANALYTES, knowledge) + _treatment_gaps(facts, knowledge)),
        treatments=treatments,
        notes=ordered_unique(notes),
        sources=_sources(items, ("b12-pathway-2025", "nice-ng239")),
        symptoms=symptoms,
    )


def _indeterminate(
    facts: PatientFacts, knowledge: Knowledge, grey: LabResult, status: B12Status
) -> Finding | None:
    markers = _marker_results(facts, grey)
    marker_ev: list[Evidence] = []
    verdicts = []
    for analyte, result in markers.items():
        cutoff_key = _MARKERS[analyte]
        verdict = above(result, cutoff_key, knowledge)
        verdicts.append(verdict)
        marker_ev.append(evidence(result, knowledge, cutoff_key, ">"))
    grey_ev = tuple(_band_evidence(r, status.bands[r.reference], knowledge) for r in status.grey)
    primary = next(e for e in grey_ev if e.reference == grey.reference)
    if True in verdicts:
        elevated = tuple(e for e, v in zip(marker_ev, verdicts, strict=True) if v)
        raised = frozenset(e.analyte for e in elevated)
        return _deficiency(facts, knowledge, primary, (*grey_ev, *elevated), raised)
    if False in verdicts:
        return None  # a normal metabolic marker after a grey-zone B12 rules deficiency out
    symptoms = neuro_symptoms(facts, knowledge)
    gaps = lab_gaps(facts, B12_ANALYTES, knowledge)
    discordant = status.discordant is not None and grey.reference == status.discordant.reference
    if discordant and status.settling_holotc is not None:
        holotc = status.settling_holotc
        note = "normal active B12 on or after the low total B12: the results disagree"
        marker_ev.insert(0, evidence(holotc, knowledge, "holotc_indeterminate_upper", ">", note))
    # In pregnancy, active B12 and MMA are preferred; homocysteine also changes in pregnancy.
    wanted = ("holotc", "mma") if _pregnant(facts) and grey.analyte == "b12_total" else tuple(_MARKERS)
    earlier_ev: list[Evidence] = []
    for analyte in _MARKERS:
        if analyte not in markers:
            earlier = facts.recent(analyte)
            if analyte not in wanted or earlier is not None:
                # an order line says it for a marker offered; otherwise it is a gap
                gaps.append(
                    DataGap(knowledge.labs[analyte].display, f"not measured on or after {grey.when.day}")
                )
            # A recent marker from before the B12 result does not settle it, but the clinician
            # must see it: it is why the card will not order that test again.
            if earlier is not None:
                note = f"measured before the B12 result of {grey.when.day}: not used to settle it"
                earlier_ev.append(evidence(earlier, knowledge, _MARKERS[analyte], ">", note))
    tests = tuple(
        recommend_test(
            knowledge, key, f"confirms or excludes deficiency after the B12 result of {grey.when.day}"
        )
        for key in wanted
    )
    notes = ["b12-indeterminate-next", *_common_notes(facts, knowledge, bool(symptoms)), "mma-renal"]
    if preliminary(grey_ev):
        notes.append("preliminary-result")
    return Finding(
        topic=Topic.B12_INDETERMINATE,
        # Grey-zone results are a prompt to test; documented nerve symptoms make them pressing.
        severity=Severity.WARNING if symptoms else Severity.INFO,
        title="Vitamin B12 results disagree" if discordant else "Vitamin B12 result in the grey zone",
        primary=primary,
        evidence=(*grey_ev, *marker_ev, *earlier_ev),
        causes=b12_risk_causes(facts, knowledge),
        gaps=tuple(gaps),
        tests=tests,
        notes=ordered_unique(notes),
        sources=_sources(grey_ev, ("b12-pathway-2025", "nice-ng239")),
        symptoms=symptoms,
    )


def _deficiency_documented(facts: PatientFacts, knowledge: Knowledge, status: B12Status) -> bool:
    if status.deficient or status.grey or facts.conditions_in("b12-deficiency-documented"):
        return True
    history = (*facts.labs.get("b12_total", ()), *facts.labs.get("holotc", ()))
    return any(band(r, knowledge) == "deficient" for r in history)


def _monitoring(facts: PatientFacts, knowledge: Knowledge, status: B12Status) -> Finding:
    therapy = facts.meds("b12-therapy")
    items = tuple(
        _band_evidence(r, status.bands[r.reference], knowledge) for r in (*status.deficient, *status.grey)
    )
    if not items:
        latest = [r for r in (facts.latest("holotc"), facts.latest("b12_total")) if r is not None]
        items = tuple(
            _band_evidence(r, band(r, knowledge), knowledge)
            for r in latest
            if band(r, knowledge) in {"deficient", "indeterminate", "unclear-low"}
        )
    # The therapy and the documented deficiency are on record; they are not causes.
    on_record = [medication_cause(m, facts) for m in therapy]
    on_record += [condition_cause(c) for c in facts.conditions_in("b12-deficiency-documented")]
    notes = ["b12-on-therapy", "b12-review", "b12-twitching-flare"]
    # Twitching on record while B12 is given: the brief flare on starting treatment, and to
    # report twitching that persists or worsens, is what this chart needs said first.
    twitching = bool(facts.conditions_in("twitching"))
    if is_child(facts, knowledge):
        notes.append("b12-paediatric")
    review_months = knowledge.cutoffs["b12_review_months"]
    gaps = lab_gaps(facts, ("b12_total", "holotc"), knowledge)
    starts = [m.start for m in therapy if m.start is not None]
    if not starts:
        gaps.append(DataGap("B12 therapy", "start date not recorded: time on treatment unknown"))
    elif min(starts).day > months_before(facts.now, int(review_months)):
        notes.append("b12-early-treatment")
    return Finding(
        topic=Topic.B12_TREATMENT_MONITORING,
        severity=Severity.INFO,
        title="On B12 therapy: review the response",
        primary=items[0] if items else None,
        evidence=items,
        causes=b12_risk_causes(facts, knowledge),
        on_record=unique(on_record),
        gaps=tuple(gaps),
        notes=ordered_unique(notes),
        sources=("nice-ng239", "b12-treatment-twitching"),
        symptoms=neuro_symptoms(facts, knowledge),
        fitting_notes=("b12-twitching-flare",) if twitching else (),
    )


def _elevated(facts: PatientFacts, knowledge: Knowledge) -> Finding | None:
    result = facts.recent("b12_total")
    if result is None or above(result, "b12_elevated", knowledge) is not True:
        return None
    # Supplements explain a high B12: silent for a current or recently ended B12 product.
    if facts.meds("b12-therapy"):
        return None
    recent_start = months_before(facts.now, int(knowledge.cutoffs["b12_therapy_recent_months"]))
    for use in facts.meds("b12-therapy", "past"):
        if use.last_known is None or use.last_known.day >= recent_start:
            return None
    item = evidence(result, knowledge, "b12_elevated", ">")
    if _b12_therapy_uncertain(facts):
        # Whether B12 is taken is uncertain (a record of unknown status, no medication list):
        # never silent, but nothing ordered until that is confirmed.
        return Finding(
            topic=Topic.B12_ELEVATED,
            severity=Severity.INFO,
            title="High vitamin B12: confirm whether B12 is taken",
            primary=item,
            evidence=(item,),
            causes=unique(uncertain_medication_causes(facts, ("b12-therapy",))),
            gaps=tuple(lab_gaps(facts, ("b12_total",), knowledge)),
            advice=("b12-high-confirm",),
            sources=ordered_unique(("high-b12", item.source)),
        )
    tests = tuple(
        recommend_test(
            knowledge, key, "looks for a liver, kidney or blood disorder behind an unexplained high B12"
        )
        for key in ("liver_panel", "renal_panel", "cbc")
    )
    notes = ["b12-high-workup"] + (["preliminary-result"] if preliminary((item,)) else [])
    return Finding(
        topic=Topic.B12_ELEVATED,
        severity=Severity.WARNING,
        title="Unexplained high vitamin B12",
        primary=item,
        evidence=(item,),
        gaps=tuple(lab_gaps(facts, ("b12_total",), knowledge)),
        tests=tests,
        notes=tuple(notes),
        sources=ordered_unique(("high-b12", item.source)),
    )


def b12_test_due(facts: PatientFacts) -> bool:
    """No recent B12 or active B12 on a lab list that can say so (without the list, nobody can
    tell the test is missing): the chart's and the order's testing cards both ask this."""
    if not facts.results_known("b12_total", "holotc"):
        return False
    return facts.recent("b12_total") is None and facts.recent("holotc") is None


def _testing(facts: PatientFacts, knowledge: Knowledge) -> Finding | None:
    if not b12_test_due(facts):
        return None
    triggers = current_medication_causes(facts, B12_RISK_MEDICATIONS)
    triggers += [condition_cause(c) for c in facts.conditions_in("malabsorption")]
    # A B12-lowering medicine on a list of uncertain status (a reconciliation list's "unknown")
    # still asks for the test, a low-harm step, with what to confirm.
    uncertain = uncertain_medication_causes(facts, B12_RISK_MEDICATIONS)
    if not triggers and not uncertain:
        return None
    gaps = missing_gaps(facts, knowledge, "Vitamin B12", ("b12_total", "holotc"))
    notes = [] if triggers else ["confirm-medication"]
    triggers += uncertain
    if facts.meds("metformin"):
        notes.append("metformin-b12")
    if is_child(facts, knowledge):
        notes.append("b12-paediatric")
    sources = ["b12-pathway-2025"] + (["ada-soc"] if facts.meds("metformin") else [])
    return Finding(
        topic=Topic.B12_TESTING_RECOMMENDED,
        severity=Severity.INFO,
        title="Vitamin B12 test recommended",
        causes=unique((*triggers, *b12_risk_causes(facts, knowledge))),
        gaps=tuple(gaps),
        tests=(
            recommend_test(
                knowledge, "b12_total", "B12-lowering medicine or malabsorption risk without a recent B12"
            ),
        ),
        notes=tuple(notes),
        sources=tuple(sources),
    )


def b12_findings(facts: PatientFacts, knowledge: Knowledge) -> list[Finding]:
    status = b12_status(facts, knowledge)
    findings: list[Finding] = []
    on_therapy = bool(facts.meds("b12-therapy"))
    if on_therapy:
        # Never advise starting B12 for someone who takes it: review the course instead.
        if _deficiency_documented(facts, knowledge, status):
            findings.append(_monitoring(facts, knowledge, status))
    elif status.deficient:
        items = tuple(
            _band_evidence(r, status.bands[r.reference], knowledge) for r in (*status.deficient, *status.grey)
        )
        findings.append(_deficiency(facts, knowledge, items[0], items))
    elif status.grey:
        finding = _indeterminate(facts, knowledge, status.grey[0], status)
        if finding is not None:
            findings.append(finding)
    for rule in (_elevated, _testing):
        finding = rule(facts, knowledge)
        if finding is not None:
            findings.append(finding)
    return findings
