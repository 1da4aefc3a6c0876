"""The companion app's chart: the reader's facts and the engine's findings, as the JSON the app draws.

Every use of the reader's and the engine's internals (the facts, the results set aside, the
medication uses, the calcium correction) is in this module, so a change in either is adapted
here alone. Nothing is judged twice: series points are the engine's usable results, the
cut-offs are the knowledge's (after the site's overrides), the findings are the cards the
hook would return for the same chart and "now".
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from cds.answer.modes import topic_modes
from cds.answer.pipeline import render_answer
from cds.answer.runtime import knowledge_for
from cds.cards.summary import shown_value
from cds.config import Settings
from cds.engine import Assessment, assess_chart
from cds.engine.building import B12_RISK_MEDICATIONS, set_aside_label
from cds.engine.calcium_correction import corrected_calcium, paired_albumin
from cds.engine.facts import PatientFacts
from cds.engine.model import Evidence
from cds.engine.rules_electrolytes import DIURETICS
from cds.knowledge import Knowledge
from cds.reader import (
    Decoded,
    KeyProblem,
    KeyState,
    LabResult,
    MedicationUse,
    SetAside,
    SetAsideKind,
    read_chart,
)
from cds.reader.dates import duration_words
from cds.services.call import HookCall, PrefetchResult
from cds.services.definitions import ServiceDefinition
from cds.services.request import HookRequest

# The resources the app reads and posts, under the hook's own prefetch keys: the two result
# keys, or the former single `observations` (one search for every code), which the app sends.
RESOURCE_KEYS = (
    "patient",
    "b12Observations",
    "chemistryObservations",
    "observations",
    "medicationRequests",
    "medicationStatements",
    "conditions",
)
THERAPY_CLASS = "b12-therapy"  # medications.json: B12 products, drawn as bands on the B12 panel


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    analytes: tuple[str, ...]
    medicines: tuple[str, ...]  # medication classes drawn as lanes above the charts
    bands: str | None = None  # the class also drawn as bands behind every chart


PANELS = (
    Panel(
        "b12",
        "Vitamin B12",
        ("b12_total", "holotc", "mma", "homocysteine"),
        (THERAPY_CLASS, *B12_RISK_MEDICATIONS),
        THERAPY_CLASS,
    ),
    Panel(
        "chemistry",
        "Calcium, magnesium, potassium, sodium",
        ("calcium_corrected", "calcium_ionized", "magnesium", "potassium", "sodium"),
        ("ppi", *DIURETICS, "systemic-corticosteroid", "digoxin"),
    ),
)
# Analytes the app draws within another's series: a total calcium and its albumin are read
# as the albumin-corrected calcium (Payne), as the hypocalcaemia rule reads them.
DRAWN_AS = {"calcium_total": "calcium_corrected", "albumin": "calcium_corrected"}


def observation_codes(knowledge: Knowledge) -> list[str]:
    """The LOINCs the app searches for: every code of every analyte it draws or reads into one."""
    analytes = {a for panel in PANELS for a in panel.analytes} | set(DRAWN_AS)
    return sorted({code for analyte in analytes for code in knowledge.labs[analyte].loincs})


@dataclass(frozen=True)
class ChartRequest:
    """What the app posts: the patient in context and what it read from the FHIR server."""

    patient_id: str
    resources: Mapping[str, Decoded]  # prefetch key -> the decoded resource, Bundle or nothing
    unavailable: Mapping[str, str]  # prefetch key -> why the app could not read it


def chart_view(
    request: ChartRequest,
    *,
    now: datetime,
    settings: Settings,
    base_url: str,
    service: ServiceDefinition,
) -> dict[str, Any]:
    knowledge = knowledge_for(settings)
    states = {k: KeyState(k, KeyProblem.NOT_SENT, why) for k, why in request.unavailable.items()}
    chart = read_chart(request.resources, request.patient_id, now, knowledge, states)
    assessment = assess_chart(chart, now, knowledge, topic_modes(settings).hidden)
    facts = assessment.facts
    findings = _findings(request, assessment, now, settings, base_url, service)
    set_aside = [_set_aside(item, facts, knowledge) for item in facts.set_aside]
    panels = [_panel(panel, facts, knowledge) for panel in PANELS]
    return {
        "today": facts.today.isoformat(),
        "windowStart": facts.window_start.isoformat(),
        "recentMonths": knowledge.recent_months,
        "age": facts.age_words,
        "deceased": facts.deceased,
        "unavailable": [{"key": k, "reason": v.detail} for k, v in sorted(facts.unavailable.items())],
        "panels": panels,
        "setAside": [item for item in set_aside if item is not None],
        "findings": findings,
        "hasResults": any(s["points"] for p in panels for s in p["series"]) or bool(facts.set_aside),
    }


def _findings(
    request: ChartRequest,
    assessment: Assessment,
    now: datetime,
    settings: Settings,
    base_url: str,
    service: ServiceDefinition,
) -> list[dict[str, str]]:
    """The cards the hook would answer for this chart now: topic, indicator and summary."""
    data = {key: request.resources[key] for key in RESOURCE_KEYS if key in request.resources}
    call = HookCall(
        service=service,
        request=HookRequest(
            hook=service.hook,
            hook_instance=str(uuid.uuid4()),
            context={"patientId": request.patient_id},
            prefetch=data,
        ),
        prefetch=PrefetchResult(data=data),
        now=now,
        settings=settings,
        base_url=base_url,
    )
    answer = render_answer(call, assessment, request.patient_id)
    return [
        {
            "topic": card.topic,
            "topicDisplay": card.source.topic.display if card.source.topic else "",
            "indicator": card.indicator,
            "summary": card.summary,
        }
        for card in answer.cards
    ]


def _ago(day: date, today: date) -> str:
    return f"{duration_words(day, today)} ago" if day <= today else "later today"


def _shown(result: LabResult, knowledge: Knowledge, derived: bool = False) -> str:
    """The value in the site's unit at the precision the laboratory reported it, as cards show it."""
    item = Evidence(
        analyte=result.analyte,
        display=knowledge.labs[result.analyte].display,
        loinc="" if derived else result.loinc,
        reported=result.reported,
        value=round(result.value, 4),
        unit=result.unit,
        comparator=result.comparator,
        effective=result.effective,
        cutoff="",
        source="",
        reference=result.reference,
        status=result.status,
        reported_value=None if derived else result.reported_value,
        reported_unit=result.reported_unit,
        derived=derived,
        cutoff_figures=tuple(knowledge.cutoff_figure(k) for k in knowledge.labs[result.analyte].decides),
    )
    return f"{result.comparator or ''}{shown_value(item)} {result.unit}".strip()


def _point(
    result: LabResult,
    facts: PatientFacts,
    knowledge: Knowledge,
    kind: str = "reported",
    note: str | None = None,
    reported: str | None = None,
) -> dict:
    return {
        "reference": result.reference,
        "time": result.when.instant.isoformat(),
        "day": result.when.day.isoformat(),
        "ago": _ago(result.when.day, facts.today),
        "reported": reported or result.reported,
        "reportedValue": round(result.reported_value, 4),
        "reportedUnit": result.reported_unit,
        "comparator": result.comparator,
        "value": round(result.value, 4),
        "unit": result.unit,
        "shown": _shown(result, knowledge, derived=kind == "corrected"),
        "status": result.status,
        "recent": facts.is_recent(result),
        "kind": kind,  # "reported", "corrected" (derived by the engine's formula) or "uncorrected"
        "note": note,
    }


def _calcium_points(facts: PatientFacts, knowledge: Knowledge) -> list[dict]:
    """Reported albumin-corrected calcium, and every total calcium corrected with the albumin
    the rule would pair it with (Payne); a total without one is drawn apart as uncorrected."""
    points = [_point(r, facts, knowledge) for r in facts.labs.get("calcium_corrected", ())]
    pairing = f"{knowledge.cutoffs['albumin_pairing_days']:g}"
    near = _albumins_near(facts, knowledge)
    for total in facts.labs.get("calcium_total", ()):
        albumin = paired_albumin(total, near(total), knowledge)
        if albumin is None or albumin.comparator is not None:
            why = f"no albumin within {pairing} days" if albumin is None else f"albumin {albumin.reported}"
            note = f"total calcium, not corrected: {why}"
            points.append(_point(total, facts, knowledge, "uncorrected", note))
            continue
        corrected = corrected_calcium(total, albumin, knowledge)
        note = f"corrected for albumin {albumin.value:g} g/L ({albumin.when.day})"
        inputs = f"{total.reported}; albumin {albumin.reported}"
        points.append(_point(corrected, facts, knowledge, "corrected", note, inputs))
    return sorted(points, key=lambda p: (p["time"], p["reference"]))


def _albumins_near(facts: PatientFacts, knowledge: Knowledge) -> Callable[[LabResult], list[LabResult]]:
    """For a total calcium, the albumins `paired_albumin` may choose from, newest first: of each
    day only the newest (the rule takes the first within reach, and a day's albumins are all
    equally near), of the days around it only, so every total costs a few lookups whatever the
    chart holds. As the rule reads it: any albumin within the pairing window of the total."""
    newest: dict[date, LabResult] = {}
    for albumin in facts.labs.get("albumin", ()):  # newest first
        newest.setdefault(albumin.when.day, albumin)
    reach = math.ceil(knowledge.cutoffs["albumin_pairing_days"]) + 1

    def near(total: LabResult) -> list[LabResult]:
        days = (total.when.day + timedelta(days=offset) for offset in range(-reach, reach + 1))
        found = [newest[day] for day in days if day in newest]
        return sorted(found, key=lambda r: (r.when.instant, r.reference), reverse=True)

    return near


def _cutoffs(analyte: str, knowledge: Knowledge) -> list[dict[str, Any]]:
    found = []
    for key in knowledge.labs[analyte].decides:
        info = knowledge.cutoff_info[key]
        found.append(
            {
                "key": key,
                "value": knowledge.cutoffs[key],
                "unit": info.unit,
                "rule": info.rule,
                "severe": "severe" in key,
                "text": info.text,
            }
        )
    return sorted(found, key=lambda c: c["value"])


def _series(analyte: str, facts: PatientFacts, knowledge: Knowledge) -> dict[str, Any]:
    lab = knowledge.labs[analyte]
    if analyte == "calcium_corrected":
        points = _calcium_points(facts, knowledge)
    else:
        points = [_point(r, facts, knowledge) for r in reversed(facts.labs.get(analyte, ()))]  # oldest first
    return {
        "analyte": analyte,
        "display": lab.display,
        "unit": lab.unit,
        "cutoffs": _cutoffs(analyte, knowledge),
        "points": points,
    }


def _medicine(use: MedicationUse, facts: PatientFacts, knowledge: Knowledge) -> dict[str, Any]:
    start = use.start.day if use.start is not None else None
    end = use.end.day if use.end is not None else None
    ongoing = use.state == "current" and (end is None or end >= facts.today)
    note = use.note
    if end is None and not ongoing and use.last_known is not None:
        end = use.last_known.day  # history without an end date: drawn to its last known date
        note = note or "end date not recorded: drawn to the last date on the record"
    drawn_end = facts.today if ongoing and (end is None or end > facts.today) else end
    return {
        "name": use.name,
        "medicineClass": use.class_key,
        "classDisplay": knowledge.medication_classes[use.class_key].display,
        "reference": use.reference,
        "state": use.state,  # "current", "past" or "uncertain"
        "status": use.status,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "drawnEnd": drawn_end.isoformat() if drawn_end else None,
        "ongoing": ongoing,
        "startAgo": _ago(start, facts.today) if start else None,
        "endAgo": _ago(end, facts.today) if end else None,
        "note": note if start else "start date not recorded: not drawn",
    }


def _panel(panel: Panel, facts: PatientFacts, knowledge: Knowledge) -> dict[str, Any]:
    medicines = [_medicine(m, facts, knowledge) for m in facts.medications if m.class_key in panel.medicines]
    order = {key: index for index, key in enumerate(panel.medicines)}
    medicines.sort(key=lambda m: (order[m["medicineClass"]], m["start"] or "", m["reference"]))
    return {
        "key": panel.key,
        "title": panel.title,
        "series": [_series(a, facts, knowledge) for a in panel.analytes],
        "medicines": medicines,
        "bands": [m for m in medicines if m["medicineClass"] == panel.bands],
    }


def _set_aside(item: SetAside, facts: PatientFacts, knowledge: Knowledge) -> dict[str, Any] | None:
    analyte = DRAWN_AS.get(item.analyte, item.analyte)
    panel = next((p.key for p in PANELS if analyte in p.analytes), None)
    if panel is None:
        return None
    return {
        "analyte": analyte,
        "resultOf": item.analyte,
        "display": knowledge.labs[item.analyte].display,
        "panel": panel,
        "item": set_aside_label(item, knowledge),
        "reason": item.reason,
        "day": item.when.day.isoformat() if item.when else None,
        "ago": _ago(item.when.day, facts.today) if item.when else None,
        "conflict": item.kind is SetAsideKind.CONFLICT,
        "unreadable": item.kind.retest,
    }
