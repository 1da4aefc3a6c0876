"""Regenerate the RxNorm product-code map in src/cds/knowledge/medications.json.

EHRs send medicines as RxNorm product concepts (clinical drug SCD, branded drug SBD, generic
and branded packs GPCK/BPCK, sometimes a component SCDC) rather than the ingredient. This
script reads published tables of RxNorm codes with their normalized names and keeps every
code whose name contains an ingredient of a medication class the engine reads
(knowledge/medications.json, `classes.*.ingredients`, names and aliases), combination
products included. RxNorm builds its normalized names from the ingredients, strengths and
dose forms, so the name states the ingredients; the term type follows from the name's
shape ("{...} Pack", "[Brand]").

Inputs (not kept in the repository; see docs/guideline.md, "Medication map"):
  --synthea FILE   Synthea's src/main/resources/costs/medications.csv (CODE, ..., COMMENTS):
                   the RxNorm codes the synthetic patient generator writes into charts.
  --omop FILE ...  OMOP concept code sets (concept_name, concept_code, vocabulary_id), e.g.
                   the PEDSnet Variable Dictionary's drugs/*.csv (PEDSnet/Variable-Dictionary
                   at commit 009e8ba179c8, 2024-05-06: rx_2019_11_Steroids_V1,
                   rx_2021_02_Furosemide_V1, rx_2021_05_Thiazides_V1, rx_2021_11_LoopDiuretic_V1,
                   rx_2022_08_ProtonPumpInhibitors_V1); only vocabulary_id "RxNorm" rows with
                   numeric codes are read.
  --synthea-modules DIR
                   Synthea's generator modules (src/main/resources/modules/ of a checkout, or a
                   folder with the same relative paths): the RxNorm code and display of every
                   MedicationOrder state, i.e. the product codes the generator writes into
                   charts. A `commits.txt` in DIR ("<relative path> <commit>" lines, # comments)
                   records the version of each file; the map's `sources` lists them. Read so far
                   (synthetichealth/synthea, src/main/resources/modules/, Apache-2.0):
                     metabolic_syndrome_care.json            006613d234b5e66fdf9d287dc2143dc17a8a93db
                     anemia/anemia_sub.json                  033fe019a65158f6eb3d636db0f91841c58420f3
                     anemia___unknown_etiology.json          070196165c0635357a1f96f0be8cfa081541f0d4
                     atrial_fibrillation.json                65e3141eb5a03cabf0f1653010bc1fb280519a00
                     medications/hypertension_medication.json 3156480ca8159df8b00ae7de1d2f27010c10d00a
                     congestive_heart_failure.json           a5875d5a9a138f6d8c4dd65dafcaccaf2866bfad
                     heart/chf_meds.json                     5eb9a511ff0d729901c0ca2c4a31209cfefea138
                     heart/chf_meds_hfmef.json               ae68216c5cb214aee67a199dc016baa6b2f18cc3
                     heart/chf_meds_hfref_nyha4.json         05dd35f8fb303ea6f4d83be631094d9cb8606180
                     hypertension.json                       4d3d1142f13b0e684383ce22b88d123972caf89a
                     lupus.json                              033fe019a65158f6eb3d636db0f91841c58420f3
                     rheumatoid_arthritis.json               033fe019a65158f6eb3d636db0f91841c58420f3
                     copd.json                               3c3e65adf67376898a772d4c90b71d42a8ffdecd
                     covid19/medications.json                27e5952f06b6f750c0cf0150f8c6fbd31f3d87f2
                     covid19/admission.json                  ac2c8ee00f81d456b65e2b6acee515d466e27474
                   Ingredient-level codes (e.g. 5487 "hydrochlorothiazide") are not products and
                   are skipped, like every code without a dose form or strength in its name.

Rules the map follows:
- systemic corticosteroids: topical, inhaled, nasal, eye, ear, rectal and other local forms
  are left out (they do not act systemically);
- vitamin B12 and folic acid: a combination product counts only when it holds enough per
  unit (`classes.*.combination_rule`: B12 at least 0.5 mg or injected, folic acid at least
  1 mg); the engine applies the same rule (cds.knowledge.doses) to names. Low doses inside
  multivitamins neither treat a deficiency nor mask one, so those codes are listed under
  `not_counted` and match no class.

Usage:
  python scripts/build_medication_map.py --synthea medications.csv --omop a.csv b.csv \
      --synthea-modules modules/ --retrieved 2026-11-25 [--check]
`--check` exits 1 when the committed map differs from what the inputs give.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from cds.knowledge import word_form
from cds.knowledge.doses import CombinationRule, combination_rule

KNOWLEDGE = Path(__file__).resolve().parent.parent / "src" / "cds" / "knowledge" / "medications.json"

_LOCAL_FORMS = re.compile(
    r"\b(topical|cream|ointment|lotion|shampoo|foam|ophthalmic|otic|nasal|inhal\w*|inhaler|"
    r"rectal|enema|suppository|vaginal|mouthwash|paste|dental|irrigation|pad|intravitreal|"
    r"metered dose|dry powder|tape|patch|gel|spray|drops?)\b"
)
_DOSE_FORMS = re.compile(
    r"\b(tablet|capsule|solution|suspension|injection|injectable|syringe|cartridge|pen|"
    r"elixir|syrup|granules|powder|lozenge|film|strip|liquid|concentrate|kit|auto-injector|"
    r"chewable|wafer|emulsion|implant|bar)\b"
)
_SYNTHEA_NOTE = re.compile(r"\s+-{1,2}\s.*$")  # the cost table's trailing comment


def _term_type(name: str) -> str | None:
    lower = name.lower()
    if "{" in lower or re.search(r"\bpack\b", lower):
        return "BPCK" if "[" in lower else "GPCK"
    strength = re.search(r"\d\s*(mg|mcg|ug|unt|meq|ml|%)\b", lower)
    has_form = bool(_DOSE_FORMS.search(lower))
    if "[" in lower:
        return "SBD" if strength else "SBDF"
    if strength and has_form:
        return "SCD"
    if strength:
        return "SCDC"
    return "SCDF" if has_form else None


def _class_names(knowledge: dict) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for key, item in knowledge["classes"].items():
        phrases = []
        for ingredient in item["ingredients"]:
            phrases.append(ingredient["name"])
            phrases.extend(ingredient.get("aliases", ()))
        names[key] = [word_form(p) for p in phrases if len(p) > 3 or " " in p]  # no bare "b12"
    return names


def _rules(knowledge: dict) -> dict[str, CombinationRule]:
    rules = {key: combination_rule(item) for key, item in knowledge["classes"].items()}
    return {key: rule for key, rule in rules.items() if rule is not None}


def classify(
    name: str, names: dict[str, list[str]], rules: dict[str, CombinationRule]
) -> tuple[list[str], list[str]]:
    """Class keys whose ingredients the product name states, and the classes it names but
    holds too little of to count (low-dose B12 or folic acid in a multivitamin)."""
    words = word_form(name)
    found = [key for key, phrases in names.items() if any(p in words for p in phrases)]
    if "systemic-corticosteroid" in found and _LOCAL_FORMS.search(name.lower()):
        found.remove("systemic-corticosteroid")
    low = [key for key in found if key in rules and not rules[key].counts(name)]
    return [key for key in found if key not in low], low


def read_synthea(path: Path) -> Iterator[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            code, comment = (row.get("CODE") or "").strip(), row.get("COMMENTS") or ""
            if code.isdigit():
                yield code, _SYNTHEA_NOTE.sub("", comment).strip()


def read_omop(path: Path) -> Iterator[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            code = (row.get("concept_code") or "").strip()
            if row.get("vocabulary_id") == "RxNorm" and code.isdigit():
                yield code, (row.get("concept_name") or "").strip()


def read_synthea_modules(folder: Path) -> Iterator[tuple[str, str]]:
    """RxNorm code and display of each MedicationOrder state in the module files under folder."""
    for path in sorted(folder.rglob("*.json")):
        module = json.loads(path.read_text("utf-8"))
        for state in (module.get("states") or {}).values():
            if not isinstance(state, dict) or state.get("type") != "MedicationOrder":
                continue
            for coding in state.get("codes") or ():
                code = str(coding.get("code", "")).strip()
                if coding.get("system") == "RxNorm" and code.isdigit():
                    yield code, str(coding.get("display") or "").strip()


def module_versions(folder: Path) -> list[dict[str, str]]:
    """Each module file read, with the commit `commits.txt` records for it (if any)."""
    commits: dict[str, str] = {}
    listing = folder / "commits.txt"
    if listing.is_file():
        for line in listing.read_text("utf-8").splitlines():
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#"):
                commits[parts[0]] = parts[1]
    files = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*.json"))
    return [{"file": name, **({"commit": commits[name]} if name in commits else {})} for name in files]


def build(pairs: Iterable[tuple[str, str]], knowledge: dict) -> tuple[dict, dict]:
    names = _class_names(knowledge)
    rules = _rules(knowledge)
    ingredients = {
        i["rxcui"] for item in knowledge["classes"].values() for i in item["ingredients"] if i.get("rxcui")
    }
    classes: dict[str, dict[str, str]] = {key: {} for key in knowledge["classes"]}
    not_counted: dict[str, dict[str, str]] = {f"{key}-low-dose": {} for key in rules}
    for code, name in pairs:
        if code in ingredients or not name:
            continue
        tty = _term_type(name)
        if tty is None:
            continue
        found, low = classify(name, names, rules)
        for key in found:
            classes[key].setdefault(code, f"{tty} {name}")
        for key in low:
            not_counted[f"{key}-low-dose"].setdefault(code, f"{tty} {name}")
    return _by_code(classes), _by_code(not_counted)


def _by_code(groups: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {key: dict(sorted(codes.items(), key=lambda kv: int(kv[0]))) for key, codes in groups.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthea", type=Path, action="append", default=[])
    parser.add_argument("--omop", type=Path, nargs="*", default=[])
    parser.add_argument("--synthea-modules", type=Path, action="append", default=[])
    parser.add_argument("--retrieved", required=True, help="date the inputs were retrieved (YYYY-MM-DD)")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--knowledge", type=Path, default=KNOWLEDGE, help=argparse.SUPPRESS)  # for tests
    args = parser.parse_args(argv)
    knowledge = json.loads(args.knowledge.read_text("utf-8"))
    pairs: list[tuple[str, str]] = []
    for path in args.synthea:
        pairs.extend(read_synthea(path))
    for path in args.omop:
        pairs.extend(read_omop(path))
    for folder in args.synthea_modules:
        pairs.extend(read_synthea_modules(folder))
    classes, not_counted = build(pairs, knowledge)
    product_map = {
        "about": (
            "Generated by scripts/build_medication_map.py: do not edit by hand. RxNorm product codes "
            "(SCD, SBD, GPCK, BPCK, and the SCDC/SCDF forms some charts send) whose normalized name "
            "contains an ingredient of the class, combination products included. The value is the "
            "term type and the RxNorm name."
        ),
        "sources": [
            {
                "name": "Synthea synthetic patient generator, medication cost table",
                "file": "src/main/resources/costs/medications.csv",
                "repository": "synthetichealth/synthea",
                "licence": "Apache-2.0",
            },
            {
                "name": "PEDSnet Variable Dictionary, drug code sets (OMOP vocabulary, RxNorm rows)",
                "files": sorted(p.name for p in args.omop),
                "repository": "PEDSnet/Variable-Dictionary",
                "path": "drugs/",
                "commit": "009e8ba179c84d844a0c5b898132efb33acdef9e (2024-05-06)",
                "licence": "none stated: the inputs are not kept, only the codes derived from them",
            },
            *(
                {
                    "name": "Synthea synthetic patient generator, module files (MedicationOrder states)",
                    "repository": "synthetichealth/synthea",
                    "path": "src/main/resources/modules/",
                    "files": module_versions(folder),
                    "licence": "Apache-2.0",
                }
                for folder in args.synthea_modules
            ),
        ],
        "retrieved": args.retrieved,
        "rules": {
            "systemic-corticosteroid": "local forms (topical, inhaled, nasal, eye, ear, rectal) left out",
            **{
                key: (
                    f"a combination product counts only when holding at least {rule.min_mg:g} mg per unit"
                    + (" or injected" if rule.injection_counts else "")
                    + "; the others are listed under not_counted and match no class"
                    " (medications.json, classes.*.combination_rule)"
                )
                for key, rule in _rules(knowledge).items()
            },
        },
        "size": sum(len(codes) for codes in classes.values()),
        "classes": classes,
        "not_counted": not_counted,
    }
    if args.check:
        same = knowledge.get("product_map") == product_map
        print("medication map is up to date" if same else "medication map differs from its inputs")
        return 0 if same else 1
    knowledge["product_map"] = product_map
    args.knowledge.write_text(json.dumps(knowledge, indent=2, ensure_ascii=False) + "\n", "utf-8")
    counts = ", ".join(f"{key} {len(codes)}" for key, codes in classes.items())
    low = ", ".join(f"{key} {len(codes)}" for key, codes in not_counted.items())
    print(f"{product_map['size']} codes: {counts}; not counted: {low}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
