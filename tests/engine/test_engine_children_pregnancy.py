"""Children: seizures and developmental delay are neurological involvement, and no adult-only
source is cited. Pregnancy: total B12 is hard to read, so active B12 or MMA is preferred."""

from __future__ import annotations

import pytest

from tests.engine.engine_fhir import ICD10, SNOMED, chart, cond, finding, obs, run

CHILD, ADULT = "2016-04-01", "1980-04-01"


@pytest.mark.parametrize(
    ("condition", "birth_date", "neuro"),
    [
        (cond("91175000", SNOMED), CHILD, True),
        (cond("R56.9", ICD10), CHILD, True),
        (cond("G40.909", ICD10), CHILD, True),
        (cond("248290002", SNOMED), CHILD, True),
        (cond("F88", ICD10), CHILD, True),
        (cond("R62.50", ICD10), CHILD, True),
        (cond("R56.9", ICD10), ADULT, False),  # in an adult a seizure is not read as B12 involvement
        (cond("F88", ICD10), ADULT, False),
        (cond("K21.9", ICD10), CHILD, False),
    ],
)
def test_child_seizures_or_delay_are_neurological_involvement(condition, birth_date, neuro):
    result = run(chart([obs("2132-9", 120, "pg/mL")], conditions=[condition], birth_date=birth_date))
    deficiency = finding(result, "b12-deficiency")
    assert ("b12-neuro-urgency" in deficiency.notes) is neuro
    assert bool(deficiency.symptoms) is neuro


@pytest.mark.parametrize(
    ("birth_date", "cites_adult_guideline"),
    [(CHILD, False), ("2011-01-01", False), ("2010-06-01", True), (ADULT, True)],  # NG239: over 16s
)
def test_a_child_card_does_not_cite_an_adult_only_guideline(birth_date, cites_adult_guideline):
    observations = [obs("72160-5", 20, "pmol/L")]  # active B12: cut-off from NICE NG239
    deficiency = finding(run(chart(observations, birth_date=birth_date)), "b12-deficiency")
    cited = {*deficiency.sources, *(e.source for e in deficiency.evidence), deficiency.primary.source}
    assert ("nice-ng239" in cited) is cites_adult_guideline
    assert deficiency.primary.source in {"nice-ng239", "codes-reference"}


PREGNANT = cond("77386006", SNOMED)
LOW = obs("2132-9", 150, "pg/mL")


@pytest.mark.parametrize(
    ("observations", "conditions", "topic", "tests", "note"),
    [
        ([obs("2132-9", 150, "pg/mL")], [PREGNANT], "b12-deficiency", ["holotc", "mma"], True),
        ([obs("2132-9", 150, "pg/mL")], [], "b12-deficiency", [], False),
        ([obs("2132-9", 250, "pg/mL")], [PREGNANT], "b12-indeterminate", ["holotc", "mma"], True),
        ([obs("2132-9", 250, "pg/mL")], [], "b12-indeterminate", ["mma", "homocysteine"], False),
        # Active B12 already measured: nothing more to ask.
        ([obs("72160-5", 20, "pmol/L")], [PREGNANT], "b12-deficiency", [], True),
        ([LOW, obs("13964-2", 0.2, "umol/L")], [PREGNANT], "b12-deficiency", ["holotc"], True),
        ([LOW], [cond("77386006", SNOMED, clinical="resolved")], "b12-deficiency", [], False),
    ],
)
def test_pregnancy_prefers_active_b12_or_mma(observations, conditions, topic, tests, note):
    found = finding(run(chart(observations, conditions=conditions, birth_date=ADULT)), topic)
    assert [t.key for t in found.tests] == tests
    assert ("b12-pregnancy" in found.notes) is note


@pytest.mark.parametrize(
    ("birth_date", "conditions"),
    [
        (CHILD, []),
        (CHILD, [cond("R25.3", ICD10)]),  # twitching: urgency and paediatric caveats fill the two slots
        (CHILD, [cond("91175000", SNOMED), cond("K90.0", ICD10)]),
    ],
)
def test_a_child_card_says_why_no_dose_is_offered_whatever_else_it_carries(birth_date, conditions):
    deficiency = finding(
        run(chart([obs("2132-9", 120, "pg/mL")], conditions=conditions, birth_date=birth_date)),
        "b12-deficiency",
    )
    assert deficiency.treatments == ()
    assert [g.item for g in deficiency.gaps if "paediatric advice" in g.reason] == ["Age"]
