"""PatientFacts: the chart as the rules see it at one moment ("now").

The reader says what the chart holds; this adds what depends on "now" and on the cut-offs:
the age, which results are recent, which same-instant results conflict (settled by the one
comparison), the medicines by class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from cds.engine.conflicts import settle
from cds.engine.result_lists import results_known
from cds.knowledge import Knowledge
from cds.reader import (
    Chart,
    ConditionMatch,
    KeyState,
    LabResult,
    MedicationRecord,
    MedicationState,
    MedicationUse,
    SetAside,
)
from cds.reader.dates import age_in_words, age_range, as_utc, months_before

MEDICATION_KEYS = ("medicationStatements", "medicationRequests")


def _uses(records: tuple[MedicationRecord, ...]) -> tuple[MedicationUse, ...]:
    return tuple(MedicationUse(record, key, how) for record in records for key, how in record.classes)


@dataclass(frozen=True)
class PatientFacts:
    chart: Chart
    now: datetime
    today: date
    window_start: date  # results dated before this day are stale
    age: int | None  # the youngest the patient can be (the one rules use)
    oldest_age: int | None  # the oldest, when a partial birth date leaves the age open
    labs: Mapping[str, tuple[LabResult, ...]]  # usable, newest first, conflicts set aside
    set_aside: tuple[SetAside, ...]
    medications: tuple[MedicationUse, ...]
    conditions: tuple[ConditionMatch, ...]
    unavailable: Mapping[str, KeyState] = field(default_factory=dict)
    # Chemistry (calcium, albumin, magnesium, potassium, sodium) is judged on days, not months:
    # per analyte, the number of days within which a result is recent (knowledge labs.json
    # `recent_window`: electrolyte_recent_days; albumin: albumin_pairing_days). B12 results
    # are recent within recent_months.
    recent_days: Mapping[str, float] = field(default_factory=dict)
    recent_months: int = 12

    @property
    def patient_id(self) -> str:
        return self.chart.patient_id

    @property
    def deceased(self) -> bool:
        return self.chart.patient is not None and self.chart.patient.deceased

    @property
    def age_words(self) -> str:
        """The age as a card shows it: "17", or "17 or 18" when the birth date is partial."""
        if self.age is None:
            return "unknown"
        if self.oldest_age is None or self.oldest_age == self.age:
            return str(self.age)
        return f"{self.age} or {self.oldest_age}"

    def latest(self, analyte: str) -> LabResult | None:
        results = self.labs.get(analyte)
        return results[0] if results else None

    def is_recent(self, result: LabResult) -> bool:
        days = self.recent_days.get(result.analyte)
        if days is not None:
            return result.when.instant >= self.now - timedelta(days=days)
        return result.when.day >= self.window_start

    def window_words(self, analyte: str) -> str:
        """How far back a recent result of this test may be, in words: "30 days", "12 months"."""
        days = self.recent_days.get(analyte)
        if days is not None:
            return f"{days:g} days"
        return f"{self.recent_months} months"

    def ago(self, when: datetime) -> str:
        """How long ago, in words a clinician reads at a glance: "5 hours ago", "12 days ago"."""
        return age_in_words(when, self.now)

    def recent(self, analyte: str) -> LabResult | None:
        result = self.latest(analyte)
        return result if result is not None and self.is_recent(result) else None

    def on_file(self, analyte: str) -> LabResult | None:
        """The latest result when it is within the look-back of `recent_months` (12): what a
        work-up that only asks for missing tests counts as done, whatever the analyte's own
        (shorter) window for acting on it."""
        result = self.latest(analyte)
        return result if result is not None and result.when.day >= self.window_start else None

    def recent_results(self, analyte: str) -> tuple[LabResult, ...]:
        return tuple(r for r in self.labs.get(analyte, ()) if self.is_recent(r))

    def meds(
        self, class_key: str, state: MedicationState = MedicationState.CURRENT
    ) -> tuple[MedicationUse, ...]:
        return tuple(m for m in self.medications if m.class_key == class_key and m.state == state)

    def conditions_in(self, value_set: str) -> tuple[ConditionMatch, ...]:
        return tuple(c for c in self.conditions if c.value_set == value_set)

    def results_known(self, *analytes: str) -> bool:
        """Whether the chart can tell that these tests have no result in the 12-month look-back
        (what the testing and work-up topics ask): each has one on file, or a key carrying its
        results came whole or reaches back past the look-back's start (result_lists)."""
        lacking = [a for a in analytes if self.on_file(a) is None]
        return results_known(self.chart.result_keys, self.unavailable, self.window_start, lacking)

    @property
    def unidentified_medications(self) -> tuple[MedicationRecord, ...]:
        """Current medication records with neither a known code nor any name: nobody can tell
        what they are (they might be B12)."""
        return tuple(
            r
            for r in self.chart.medications
            if r.state is MedicationState.CURRENT and not r.classes and not r.name
        )

    @property
    def medications_unavailable(self) -> bool:
        return any(key in self.unavailable for key in MEDICATION_KEYS)

    @property
    def medication_list_state(self) -> str:
        """How the medication list falls short, in a clinician's words (no paging language)."""
        states = [self.unavailable[key] for key in MEDICATION_KEYS if key in self.unavailable]
        if states and all(s.partial for s in states):
            return "only partly available"
        return "unavailable"


def patient_facts(chart: Chart, now: datetime, knowledge: Knowledge) -> PatientFacts:
    now = as_utc(now)
    today = now.date()
    labs, conflicting = settle(chart.results, knowledge)
    patient = chart.patient
    ages = age_range(patient.birth_date, today) if patient is not None else None
    windows = {key: lab.recent_window for key, lab in knowledge.labs.items() if lab.recent_window}
    return PatientFacts(
        recent_days={key: knowledge.cutoffs[window] for key, window in windows.items()},
        recent_months=knowledge.recent_months,
        chart=chart,
        now=now,
        today=today,
        window_start=months_before(now, knowledge.recent_months),
        age=ages[0] if ages is not None else None,
        oldest_age=ages[1] if ages is not None else None,
        labs=labs,
        set_aside=chart.set_aside + conflicting,
        medications=_uses(chart.medications),
        conditions=chart.conditions,
        unavailable=chart.key_states,
    )
