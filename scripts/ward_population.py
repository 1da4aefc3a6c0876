"""A synthetic, hospital-shaped population of charts as CDS Hooks patient-view request bodies.

    python scripts/ward_population.py --seed 7 --count 120 --out /tmp/ward

Each chart is one JSON file: a patient-view call with the five prefetch keys of
hooks/deficiency-screen.json and, at the top level, `_now` (the instant the chart is opened) and
`_setting` (icu, ward or outpatient). Shaped like a hospital rather than like the outpatient
fixtures: intensive-care patients with results every few hours, ward patients with daily
chemistry, a few outpatients, results from an earlier admission, mixed units, goals of care,
emergency-department medication lists and patients who have died. Everything is invented
(no real patient's data); the same seed writes the same files.
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
LABS = json.loads((ROOT / "src/cds/knowledge/labs.json").read_text("utf-8"))["analytes"]

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
EHR = "https://ehr.example.org/fhir"
BASE_NOW = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)

# --------------------------------------------------------------------------- named distributions
SETTING_SHARES = {"icu": 0.40, "ward": 0.45, "outpatient": 0.15}
DECEASED_SHARE = 0.10
DEATHS_IN_ICU_SHARE = 0.75
PREVIOUS_ADMISSION_SHARE = {"icu": 0.30, "ward": 0.35, "outpatient": 0.0}
ED_MEDICATION_LIST_SHARE = 0.35  # admitted patients whose home medicines came as an unknown-status list
GRADES = ("normal", "mild", "moderate", "severe")
GRADE_WEIGHTS = {
    "icu": (0.66, 0.22, 0.09, 0.03),
    "ward": (0.76, 0.17, 0.05, 0.02),
    "outpatient": (0.86, 0.11, 0.02, 0.01),
}
LOW_SIDE_SHARE = {"sodium": 0.8, "potassium": 0.6}  # the rest are high; other analytes run low
# Canonical-unit ranges of each grade: (low side, high side); None where a side has no such grade.
RANGES: dict[str, dict[str, tuple[tuple[float, float] | None, tuple[float, float] | None]]] = {
    "sodium": {
        "normal": ((136, 144), None),
        "mild": ((130, 134), (146, 149)),
        "moderate": ((125, 129), (150, 154)),
        "severe": ((114, 124), (156, 163)),
    },
    "potassium": {
        "normal": ((3.5, 5.0), None),
        "mild": ((3.3, 3.4), (5.6, 5.9)),
        "moderate": ((2.6, 3.2), (6.0, 6.4)),
        "severe": ((2.0, 2.4), (6.5, 7.3)),
    },
    # albumin-corrected calcium; ionized calcium follows it (ionized_from_corrected)
    "calcium": {
        "normal": ((2.16, 2.55), None),
        "mild": ((2.05, 2.11), None),
        "moderate": ((1.90, 2.04), None),
        "severe": ((1.62, 1.88), None),
    },
    "magnesium": {
        "normal": ((0.70, 1.02), None),
        "mild": ((0.60, 0.69), None),
        "moderate": ((0.50, 0.59), None),
        "severe": ((0.32, 0.49), None),
    },
}
NOISE = {"sodium": 1.2, "potassium": 0.15, "calcium": 0.04, "magnesium": 0.04}
ALBUMIN_G_L = {"icu": (17, 32), "ward": (25, 39), "outpatient": (34, 46)}
B12_NG_L = {"normal": (260, 900), "indeterminate": (180, 349), "low": (85, 179), "high": (1010, 1900)}
B12_WEIGHTS = (0.70, 0.15, 0.10, 0.05)
B12_SHARE = {"icu": 0.05, "ward": 0.10, "outpatient": 0.45}

# Units as laboratories send them, by house style; then the LOINC code that fits the unit.
UNIT_STYLES = {
    "si": {
        "sodium": ("mmol/L",),
        "potassium": ("mmol/L",),
        "calcium_total": ("mmol/L",),
        "magnesium": ("mmol/L",),
        "albumin": ("g/L",),
        "b12_total": ("pmol/L", "ng/L"),
    },
    "us": {
        "sodium": ("mmol/L", "mEq/L"),
        "potassium": ("mmol/L", "mEq/L"),
        "calcium_total": ("mg/dL",),
        "magnesium": ("mg/dL",),
        "albumin": ("g/dL",),
        "b12_total": ("pg/mL",),
    },
}
DECIMALS = {"mmol/L": 2, "mEq/L": 0, "mg/dL": 1, "g/L": 0, "g/dL": 1, "pmol/L": 0, "ng/L": 0, "pg/mL": 0}
ANALYTE_DECIMALS = {"sodium": 0, "potassium": 1}  # whatever the unit
LOINC_BY_UNIT = {
    ("sodium", "serum"): "2951-2",
    ("sodium", "blood"): "2947-0",
    ("potassium", "serum"): "2823-3",
    ("potassium", "blood"): "6298-4",
    ("calcium_total", "mg/dL"): "17861-6",
    ("calcium_total", "mmol/L"): "2000-8",
    ("calcium_ionized", "serum"): "1995-0",
    ("calcium_ionized", "blood"): "1994-3",
    ("magnesium", "mg/dL"): "19123-9",
    ("magnesium", "mmol/L"): "2601-3",
    ("albumin", "plain"): "1751-7",
    ("albumin", "bcg"): "61151-7",
    ("albumin", "bcp"): "61152-5",
    ("b12_total", "pmol/L"): "14685-2",
    ("b12_total", "ng/L"): "2132-9",
    ("b12_total", "pg/mL"): "2132-9",
}


class Problem(NamedTuple):
    """A condition as charts code it: SNOMED CT and ICD-10-CM codes from value_sets.json, or a name."""

    text: str
    snomed: str | None = None
    icd10: str | None = None
    shares: tuple[float, float, float] = (0.0, 0.0, 0.0)  # icu, ward, outpatient


PROBLEMS = {
    "heart-failure": Problem("Heart failure", "84114007", "I50", (0.18, 0.15, 0.12)),
    "cirrhosis": Problem("Cirrhosis of liver", "19943007", "K74.6", (0.08, 0.06, 0.03)),
    "siadh": Problem("SIADH", "237713005", "E22.2", (0.04, 0.05, 0.02)),
    "aki": Problem("Acute kidney injury", "14669001", "N17", (0.25, 0.10, 0.0)),
    "ckd": Problem("Chronic kidney disease", "709044004", "N18", (0.10, 0.12, 0.10)),
    "myeloma": Problem("Multiple myeloma", "109989006", "C90", (0.02, 0.02, 0.02)),
    "thyroidectomy": Problem("Thyroidectomy", "13619001", "E89.0", (0.02, 0.03, 0.05)),
    "dnr": Problem("Do not resuscitate", "304253006", "Z66", (0.10, 0.06, 0.0)),
    "palliative": Problem("Palliative care", "103735009", "Z51.5", (0.05, 0.05, 0.01)),
    "twitching": Problem("Fasciculation", None, "R25.3", (0.08, 0.08, 0.08)),
    "tetany": Problem("Tetany", "14958006", "R29.0", (0.02, 0.01, 0.01)),
    "cramps": Problem("Muscle cramps", "55300003", "R25.2", (0.02, 0.03, 0.04)),
}
OTHER_PROBLEMS = (
    "Sepsis",
    "Community-acquired pneumonia",
    "Fractured neck of femur",
    "COPD exacerbation",
    "Type 2 diabetes mellitus",
    "Atrial fibrillation",
    "Hypertension",
    "Cellulitis of leg",
)
NAME_ONLY_SHARE = 0.15  # conditions recorded with a name and no code


class Medicine(NamedTuple):
    """A medicine by its RxNorm code (ingredient or product) and ATC code from medications.json."""

    text: str
    rxnorm: str | None
    atc: str | None


MEDICINE_CLASSES: dict[str, tuple[tuple[float, float, float], tuple[Medicine, ...]]] = {
    "loop-diuretic": (
        (0.35, 0.30, 0.15),
        (
            Medicine("furosemide 40 mg tablet", "4603", "C03CA01"),
            Medicine("bumetanide 1 mg tablet", "1808", "C03CA02"),
        ),
    ),
    "thiazide": (
        (0.06, 0.12, 0.25),
        (
            Medicine("hydrochlorothiazide 25 mg tablet", "5487", "C03AA03"),
            Medicine("indapamide 2.5 mg tablet", None, "C03BA11"),
        ),
    ),
    "ppi": (
        (0.65, 0.40, 0.25),
        (
            Medicine("pantoprazole 40 mg EC tablet", "40790", "A02BC02"),
            Medicine("esomeprazole 20 mg capsule", "606726", None),
        ),
    ),
    "metformin": (
        (0.10, 0.18, 0.25),
        (
            Medicine("metformin 500 mg tablet", "861007", None),
            Medicine("metformin 1 g tablet", "6809", "A10BA02"),
        ),
    ),
    "ace-inhibitor": (
        (0.10, 0.25, 0.30),
        (
            Medicine("lisinopril 10 mg tablet", "29046", "C09AA03"),
            Medicine("ramipril 5 mg capsule", "35296", "C09AA05"),
        ),
    ),
    "digoxin": ((0.05, 0.06, 0.04), (Medicine("digoxin 0.125 mg tablet", "3407", "C01AA05"),)),
    "corticosteroid": (
        (0.25, 0.12, 0.05),
        (
            Medicine("hydrocortisone 100 mg injection", "5492", "H02AB09"),
            Medicine("prednisone 20 mg tablet", "8640", "H02AB07"),
        ),
    ),
    "b12": (
        (0.03, 0.05, 0.08),
        (
            Medicine("cyanocobalamin 1000 microgram tablet", "11248", "B03BA01"),
            Medicine("hydroxocobalamin 1 mg/mL injection", "5514", "B03BA03"),
        ),
    ),
}
SETTING_INDEX = {"icu": 0, "ward": 1, "outpatient": 2}
USERS = ("icu-registrar-1", "ward-doctor-2", "consultant-3")


# --------------------------------------------------------------------------- small helpers
def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def reported(value: float, decimals: int) -> int | float:
    """A value as a laboratory prints it: rounded, and a whole number without a trailing zero."""
    rounded = round(value, decimals)
    return int(rounded) if rounded == int(rounded) else rounded


def weighted(rng: random.Random, options: Sequence[Any], weights: Sequence[float]) -> Any:
    return rng.choices(list(options), weights=list(weights))[0]


def bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    entries = [
        {"fullUrl": f"{EHR}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
        for r in resources
    ]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources), "entry": entries}


# --------------------------------------------------------------------------- values
def grade_value(analyte: str, grade: str, low_side: bool, place: float) -> float:
    """The value at `place` (0 to 1) within the grade's range on the chosen side."""
    low, high = RANGES[analyte][grade]
    bounds = low if (low_side or high is None) else high
    assert bounds is not None
    return bounds[0] + place * (bounds[1] - bounds[0])


def course(rng: random.Random, analyte: str, grade: str, low_side: bool, count: int) -> list[float]:
    """`count` canonical values, oldest first, ending in the grade: from a start one grade worse
    that the stay corrected, or from a normal start that drifted into the final grade."""
    final = grade_value(analyte, grade, low_side, rng.random())
    if grade == "normal":
        start_grade = weighted(rng, GRADES, (0.75, 0.18, 0.06, 0.01))
    else:
        worse = GRADES[min(GRADES.index(grade) + 1, len(GRADES) - 1)]
        start_grade = weighted(rng, ("normal", grade, worse), (0.35, 0.40, 0.25))
    start = grade_value(analyte, start_grade, low_side, rng.random())
    if count == 1:
        return [final]
    noise = NOISE[analyte]
    values = [start + (final - start) * i / (count - 1) + rng.gauss(0, noise) for i in range(count - 1)]
    return [*values, final]


def draw_grades(rng: random.Random, setting: str, problems: set[str], classes: set[str]) -> dict[str, Any]:
    """The final grade and side of each electrolyte, nudged by what the chart says."""
    weights = GRADE_WEIGHTS[setting]
    grades = {a: weighted(rng, GRADES, weights) for a in ("sodium", "potassium", "calcium", "magnesium")}
    sides = {a: rng.random() < LOW_SIDE_SHARE.get(a, 1.0) for a in grades}
    low_sodium_causes = problems & {"siadh", "cirrhosis", "heart-failure"}
    if low_sodium_causes and grades["sodium"] == "normal" and rng.random() < 0.6:
        grades["sodium"], sides["sodium"] = "mild", True
    if problems & {"aki", "ckd"} and "ace-inhibitor" in classes and rng.random() < 0.5:
        sides["potassium"] = False
    if "thyroidectomy" in problems and grades["calcium"] == "normal":
        grades["calcium"] = "moderate"
    if {"ppi", "loop-diuretic"} <= classes and grades["magnesium"] == "normal" and rng.random() < 0.4:
        grades["magnesium"] = "mild"
    return {"grades": grades, "sides": sides}


# --------------------------------------------------------------------------- observations
def observation(
    pid: str,
    number: int,
    analyte: str,
    variant: str,
    canonical: float,
    unit: str,
    when: datetime,
    rng: random.Random,
) -> dict[str, Any]:
    """One laboratory result, its value converted from the canonical unit into the one reported."""
    code = LOINC_BY_UNIT[analyte, variant]
    factor = {spelling.lower(): f for spelling, f in LABS[analyte]["units"].items()}[unit.lower()]
    display = next(item["display"] for item in LABS[analyte]["loinc"] if item["code"] == code)
    value = reported(canonical / factor, ANALYTE_DECIMALS.get(analyte, DECIMALS[unit]))
    turnaround = rng.randint(8, 20) if variant == "blood" else rng.randint(60, 180)  # blood gas or lab
    return {
        "resourceType": "Observation",
        "id": f"obs-{pid}-{number}",
        "status": "final",
        "category": [{"coding": [{"system": f"{TERMINOLOGY}/observation-category", "code": "laboratory"}]}],
        "code": {
            "coding": [{"system": LOINC, "code": code, "display": display}],
            "text": LABS[analyte]["display"],
        },
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": iso(when),
        "issued": iso(when + timedelta(minutes=turnaround)),
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit.replace("mEq", "meq")},
    }


def draw_times(rng: random.Random, start: datetime, end: datetime, every_h: float) -> list[datetime]:
    times, when = [], start
    while when < end:
        times.append(when + timedelta(minutes=rng.randint(-25, 25)))
        when += timedelta(hours=every_h)
    return times


def next_hour(after: datetime, hour: int) -> datetime:
    """The first time of day `hour`:00 at or after `after`."""
    when = after.replace(hour=hour, minute=0, second=0, microsecond=0)
    return when if when >= after else when + timedelta(days=1)


def schedule(rng: random.Random, setting: str) -> tuple[float, float]:
    """Hours between sodium and potassium draws, and between the daily chemistry draws."""
    if setting == "icu":
        return rng.choice((6, 8, 12)), 24
    every = rng.choice((24, 24, 48)) if setting == "ward" else rng.randint(60, 150) * 24
    return every, every


def stay_results(
    rng: random.Random,
    pid: str,
    setting: str,
    start: datetime,
    end: datetime,
    state: dict[str, Any],
    style: str,
    first_number: int,
) -> list[dict[str, Any]]:
    """Chemistry through one stay (or an outpatient's visits), the way the setting draws blood."""
    units = {a: rng.choice(spellings) for a, spellings in UNIT_STYLES[style].items()}
    fast_every, daily_every = schedule(rng, setting)
    morning = next_hour(start, rng.randint(9, 15) if setting == "outpatient" else 6)  # clinic or ward round
    fast = draw_times(rng, start if setting == "icu" else morning, end, fast_every)
    daily = draw_times(rng, morning, end, daily_every)
    grades, sides = state["grades"], state["sides"]
    sodium = course(rng, "sodium", grades["sodium"], sides["sodium"], len(fast))
    potassium = course(rng, "potassium", grades["potassium"], sides["potassium"], len(fast))
    calcium = course(rng, "calcium", grades["calcium"], True, len(daily))
    magnesium = course(rng, "magnesium", grades["magnesium"], True, len(daily))
    albumin = rng.uniform(*ALBUMIN_G_L[setting])
    albumin_every = rng.choice((2, 3, 4)) if setting != "outpatient" else 1
    draws_magnesium = setting == "icu" or rng.random() < 0.6
    draws_ionized = setting == "icu" or rng.random() < 0.1
    results: list[dict[str, Any]] = []

    def add(analyte: str, variant: str, value: float, unit: str, when: datetime) -> None:
        number = first_number + len(results)
        results.append(observation(pid, number, analyte, variant, value, unit, when, rng))

    for i, when in enumerate(fast):
        source = "blood" if setting == "icu" and rng.random() < 0.3 else "serum"  # blood-gas analyser
        add("sodium", source, sodium[i], units["sodium"], when)
        add("potassium", source, potassium[i], units["potassium"], when)
    for i, when in enumerate(daily):
        if i % albumin_every == 0:
            albumin = min(max(albumin + rng.gauss(0, 1.5), 12), 50)
            method = weighted(rng, ("plain", "bcg", "bcp"), (0.7, 0.2, 0.1))
            add("albumin", method, albumin, units["albumin"], when)
        total = calcium[i] - 0.02 * (40 - albumin)  # what the analyser measures at this albumin
        add("calcium_total", units["calcium_total"], total, units["calcium_total"], when)
        if draws_ionized:
            source = "blood" if setting == "icu" and rng.random() < 0.8 else "serum"
            ionized = ionized_from_corrected(calcium[i]) + rng.gauss(0, 0.01)
            add("calcium_ionized", source, ionized, "mmol/L", when + timedelta(minutes=5))
        if draws_magnesium:
            add("magnesium", units["magnesium"], magnesium[i], units["magnesium"], when)
    if daily and rng.random() < B12_SHARE[setting]:
        b12 = rng.uniform(*weighted(rng, list(B12_NG_L.values()), B12_WEIGHTS))
        add("b12_total", units["b12_total"], b12, units["b12_total"], daily[-1])
    return results


def ionized_from_corrected(corrected: float) -> float:
    """About half of the calcium is ionized: corrected 2.12 mmol/L sits at ionized 1.12, 1.90 at 1.01."""
    return 1.12 + (corrected - 2.12) * 0.5


# --------------------------------------------------------------------------- conditions, medicines
def status(kind: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": f"{TERMINOLOGY}/{kind}", "code": code}]}


def condition(
    pid: str, number: int, problem: Problem, category: str, when: datetime, rng: random.Random
) -> dict[str, Any]:
    codings = []
    if rng.random() >= NAME_ONLY_SHARE:
        if problem.snomed and (rng.random() < 0.5 or not problem.icd10):
            codings.append({"system": SNOMED, "code": problem.snomed})
        if problem.icd10 and (not codings or rng.random() < 0.4):
            codings.append({"system": ICD10CM, "code": problem.icd10})
    return {
        "resourceType": "Condition",
        "id": f"cond-{pid}-{number}",
        "clinicalStatus": status("condition-clinical", "active"),
        "verificationStatus": status("condition-ver-status", "confirmed"),
        "category": [status("condition-category", category)],
        "code": {"coding": codings, "text": problem.text} if codings else {"text": problem.text},
        "subject": {"reference": f"Patient/{pid}"},
        "recordedDate": iso(when),
    }


def conditions_of(
    rng: random.Random, pid: str, setting: str, problems: set[str], when: datetime
) -> list[dict[str, Any]]:
    """The chart's problems, then a few the engine has no use for, all recorded by name."""
    chosen = [PROBLEMS[key] for key in sorted(problems)]
    chosen += [Problem(name) for name in rng.sample(OTHER_PROBLEMS, k=rng.randint(0, 2))]
    category = "problem-list-item" if setting == "outpatient" else "encounter-diagnosis"
    return [condition(pid, i, problem, category, when, rng) for i, problem in enumerate(chosen, start=1)]


def medicine_concept(medicine: Medicine, rng: random.Random) -> dict[str, Any]:
    codings = []
    if medicine.rxnorm:
        codings.append({"system": RXNORM, "code": medicine.rxnorm})
    if medicine.atc and (not codings or rng.random() < 0.3):
        codings.append({"system": ATC, "code": medicine.atc})
    return {"coding": codings, "text": medicine.text}


def medicines_of(
    rng: random.Random, pid: str, setting: str, classes: set[str], start: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Active orders (MedicationRequest) and medication lists (MedicationStatement): an
    outpatient's own list, or the emergency department's reconciliation list of unknown status."""
    requests, statements = [], []
    listed_in_ed = setting != "outpatient" and rng.random() < ED_MEDICATION_LIST_SHARE
    for i, key in enumerate(sorted(classes), start=1):
        concept = medicine_concept(rng.choice(MEDICINE_CLASSES[key][1]), rng)
        subject = {"reference": f"Patient/{pid}"}
        listed = "active" if setting == "outpatient" and rng.random() < 0.4 else None
        if listed_in_ed and rng.random() < 0.6:
            listed = "unknown"
        if listed:
            statements.append(
                {
                    "resourceType": "MedicationStatement",
                    "id": f"ms-{pid}-{i}",
                    "status": listed,
                    "medicationCodeableConcept": concept,
                    "subject": subject,
                    "dateAsserted": iso(start),
                }
            )
            continue
        authored = start - timedelta(days=rng.randint(30, 900)) if setting == "outpatient" else start
        requests.append(
            {
                "resourceType": "MedicationRequest",
                "id": f"mr-{pid}-{i}",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": concept,
                "subject": subject,
                "authoredOn": iso(authored),
            }
        )
    return requests, statements


# --------------------------------------------------------------------------- one chart
def stay(rng: random.Random, setting: str, now: datetime) -> tuple[datetime, datetime]:
    """When the results start and end: this admission so far, or an outpatient's months of visits."""
    if setting == "outpatient":
        return now - timedelta(days=rng.randint(60, 360)), now - timedelta(days=rng.randint(1, 40))
    days = rng.uniform(2, 10 if setting == "icu" else 7)
    return now - timedelta(days=days), now - timedelta(minutes=rng.randint(240, 480))  # results issued by now


def observations_of(
    rng: random.Random,
    pid: str,
    setting: str,
    window: tuple[datetime, datetime],
    problems: set[str],
    classes: set[str],
) -> list[dict[str, Any]]:
    style = rng.choice(("si", "us"))
    state = draw_grades(rng, setting, problems, classes)
    results = stay_results(rng, pid, setting, *window, state, style, 1)
    if rng.random() < PREVIOUS_ADMISSION_SHARE[setting]:  # an earlier stay, sometimes at another lab
        earlier = window[0] - timedelta(days=rng.randint(30, 330))
        old_state = draw_grades(rng, "icu", problems, classes)  # abnormal results more often
        old_style = style if rng.random() < 0.6 else rng.choice(("si", "us"))
        old_window = (earlier, earlier + timedelta(days=rng.randint(2, 6)))
        results += stay_results(rng, pid, "ward", *old_window, old_state, old_style, len(results) + 1)
    return sorted(results, key=lambda o: o["effectiveDateTime"], reverse=True)  # _sort=-date


def patient_of(rng: random.Random, pid: str, number: str, now: datetime, died: datetime | None) -> dict:
    age = round(rng.triangular(18, 96, 74))
    patient = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "https://ehr.example.org/mrn", "value": number}],
        "gender": rng.choice(("female", "male")),
        "birthDate": f"{now.year - age}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    }
    return {**patient, "deceasedDateTime": iso(died)} if died else patient


FAMILY_OF_CODE = {entry["code"]: lab["family"] for lab in LABS.values() for entry in lab["loinc"]}
FAMILY_KEYS = {"b12": "b12Observations", "chemistry": "chemistryObservations"}


def result_keys(observations: list[dict[str, Any]], former: bool) -> dict[str, Any]:
    """The results under the services' prefetch keys, one per family (labs.json `family`), or
    under the former single `observations` key that older versions read."""
    if former:
        return {"observations": bundle(observations)}
    by_key: dict[str, list[dict[str, Any]]] = {key: [] for key in FAMILY_KEYS.values()}
    for resource in observations:
        by_key[FAMILY_KEYS[FAMILY_OF_CODE[resource["code"]["coding"][0]["code"]]]].append(resource)
    return {key: bundle(found) for key, found in by_key.items()}


def chart(seed: int, index: int, setting: str, deceased: bool, former: bool = False) -> dict[str, Any]:
    rng = random.Random(f"{seed}:{index}")
    pid = f"ward-{index:03d}"
    now = BASE_NOW + timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 10), minutes=rng.randint(0, 59))
    column = SETTING_INDEX[setting]
    start, end = stay(rng, setting, now)
    problems = {key for key, p in PROBLEMS.items() if rng.random() < p.shares[column]}
    classes = {key for key, (shares, _) in MEDICINE_CLASSES.items() if rng.random() < shares[column]}
    requests, statements = medicines_of(rng, pid, setting, classes, start)
    died = end + timedelta(minutes=rng.randint(10, 120)) if deceased else None
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "context": {"userId": f"Practitioner/{rng.choice(USERS)}", "patientId": pid},
        "prefetch": {
            "patient": patient_of(rng, pid, f"SYN{seed:02d}{index:04d}", now, died),
            **result_keys(observations_of(rng, pid, setting, (start, end), problems, classes), former),
            "conditions": bundle(conditions_of(rng, pid, setting, problems, start)),
            "medicationStatements": bundle(statements),
            "medicationRequests": bundle(requests),
        },
        "_now": iso(now),
        "_setting": setting,
    }


# --------------------------------------------------------------------------- the population
def quota(count: int, share: float) -> int:
    return int(count * share + 0.5)


def assignments(seed: int, count: int) -> list[tuple[str, bool]]:
    """Each chart's setting and whether the patient has died, in the named shares exactly."""
    rng = random.Random(seed)
    icu, outpatient = quota(count, SETTING_SHARES["icu"]), quota(count, SETTING_SHARES["outpatient"])
    settings = ["icu"] * icu + ["outpatient"] * outpatient + ["ward"] * (count - icu - outpatient)
    rng.shuffle(settings)
    deaths = quota(count, DECEASED_SHARE)
    in_icu = min(settings.count("icu"), quota(deaths, DEATHS_IN_ICU_SHARE))
    died = set(rng.sample([i for i, s in enumerate(settings) if s == "icu"], in_icu))
    died |= set(rng.sample([i for i, s in enumerate(settings) if s == "ward"], deaths - in_icu))
    return [(setting, i in died) for i, setting in enumerate(settings)]


def population(seed: int, count: int, former: bool = False) -> list[dict[str, Any]]:
    return [
        chart(seed, i, setting, dead, former) for i, (setting, dead) in enumerate(assignments(seed, count), 1)
    ]


def write(bodies: list[dict[str, Any]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("ward-*.json"):
        old.unlink()
    for body in bodies:
        path = out / f"{body['context']['patientId']}.json"
        path.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--count", type=int, default=120)
    parser.add_argument("--out", type=Path, required=True, help="directory for the request bodies")
    parser.add_argument(
        "--former-key",
        action="store_true",
        help="put every result under the single 'observations' key older versions read",
    )
    args = parser.parse_args(argv)
    bodies = population(args.seed, args.count, args.former_key)
    write(bodies, args.out)
    print(f"{len(bodies)} charts in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
