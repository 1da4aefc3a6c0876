"""The safety check on the engine's own decisions, made last and independently of the rules.

Whatever a rule decided, no finding may offer a test whose result is already on file and
recent (unless the rule marked it a deliberate repeat and said why), or start vitamin B12 for
a patient whose current (or possibly current) medicines already hold it, or offer treatment
outside a confirmed deficiency. The check looks at the same facts as the rules, but from the
other side: at the codes of each offered test and at every medicine record's codes and names,
not at the rules' reasoning. What it withholds is recorded on the finding, so the card can
say why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from cds.engine.facts import PatientFacts
from cds.engine.model import Finding, Topic
from cds.knowledge import Knowledge
from cds.reader import MedicationState

# Treatment choices belong to a confirmed deficiency only.
TREATMENT_TOPICS = frozenset({Topic.B12_DEFICIENCY, Topic.FOLATE_WITHOUT_B12})
_MAYBE_TAKEN = (MedicationState.CURRENT, MedicationState.UNCERTAIN)


def recent_loincs(facts: PatientFacts, knowledge: Knowledge) -> frozenset[str]:
    """LOINCs of the tests with a usable recent result: a result answers every code of its
    analyte (a molar B12 answers a mass B12 order); a test the knowledge does not interpret
    counts under the codes a card can suggest."""
    found: set[str] = set()
    for analyte in facts.labs:
        if facts.recent(analyte) is not None:
            found.update(knowledge.labs[analyte].loincs)
    for other in facts.chart.other_results:
        if other.when.day >= facts.window_start:
            found.update(other.loincs)
    return frozenset(found)


def _holds_b12(codes: Iterable[tuple[str, str]], names: Iterable[str], knowledge: Knowledge) -> bool:
    """Whether a medicine matches treatments.json `alreadyTaking`: a class its RxNorm code
    maps to, an ATC prefix, an RxNorm code or a name pattern (erring towards silence)."""
    guard = knowledge.already_taking
    rxnorm, atc = knowledge.systems["rxnorm"], knowledge.systems["atc"]
    classes = set(guard.get("classes", ()))
    prefixes = tuple(guard.get("atcPrefixes", ()))
    listed = set(guard.get("rxnorm", ()))
    for system, code in codes:
        mapped = knowledge.medication_codes.get(code, ()) if system in rxnorm else ()
        if system in rxnorm and (code in listed or classes.intersection(mapped)):
            return True
        if system in atc and prefixes and code.upper().startswith(prefixes):
            return True
    patterns = [p.lower() for p in guard.get("textPatterns", ())]
    return any(p in name for name in names for p in patterns)


def already_taking_b12(facts: PatientFacts, knowledge: Knowledge) -> bool:
    """A current or possibly current medicine holds B12, or so might a record that could not
    be read (whose names and codes say so)."""
    records = (r for r in facts.chart.medications if r.state in _MAYBE_TAKEN)
    unread = (r for r in facts.chart.unreadable if r.resource_type != "Condition")
    return any(_holds_b12(r.codes, r.names, knowledge) for r in (*records, *unread))


def guard(findings: Iterable[Finding], facts: PatientFacts, knowledge: Knowledge) -> list[Finding]:
    """The findings with every offer the check refuses taken away and named."""
    done = list(findings)
    if not any(f.tests or f.treatments for f in done):
        return done
    recent = recent_loincs(facts, knowledge)
    taking = already_taking_b12(facts, knowledge) if any(f.treatments for f in done) else False
    checked = []
    for finding in done:
        kept, withheld, seen = [], [], set()
        for test in finding.tests:
            if test.loinc in recent and not test.repeat:
                withheld.append(test.display)
            elif test.key not in seen:
                seen.add(test.key)
                kept.append(test)
        treatments = tuple(t for t in finding.treatments if t.key in knowledge.treatments)
        if finding.topic not in TREATMENT_TOPICS:
            treatments = ()
        withhold_treatment = bool(treatments) and taking
        if withhold_treatment:
            treatments = ()
        if withheld or len(kept) != len(finding.tests) or treatments != finding.treatments:
            finding = replace(
                finding,
                tests=tuple(kept),
                treatments=treatments,
                withheld_tests=finding.withheld_tests + tuple(withheld),
                treatment_withheld=withhold_treatment,
            )
        checked.append(finding)
    return checked
