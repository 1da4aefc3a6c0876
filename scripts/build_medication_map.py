"""Regenerate the RxNorm product-code map in src/cds/knowledge/medications.json.

EHRs send medicines as RxNorm product concepts (clinical drug SCD, branded drug SBD, generic
and branded packs GPCK/BPCK, sometimes a component SCDC/SBDC, a dose form SCDF/SBDF or a dose
form group SCDG) rather than the ingredient. This script reads published tables of RxNorm
codes with their normalized names and keeps every code whose name contains an ingredient of a
medication class the engine reads (knowledge/medications.json, `classes.*.ingredients`, names
and aliases), combination products included. RxNorm builds its normalized names from the
ingredients, strengths and dose forms, so the name states the ingredients; the term type
follows from the name's shape ("{...} Pack", "[Brand]", a strength, a dose form, a dose form
group ending "Product" or "Pill").

Inputs (not kept in the repository; see docs/guideline.md, "Medication map"):
  --synthea FILE   Synthea's src/main/resources/costs/medications.csv (CODE, ..., COMMENTS):
                   the RxNorm codes the synthetic patient generator writes into charts. Read:
                   synthetichealth/synthea at commit aa0772fb5e92 (2026-03-05, Apache-2.0).
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
                   records the version of each file; the map's `sources` lists them. Read: the
                   tree of synthetichealth/synthea commit aa0772fb5e92 (Apache-2.0), the 16
                   modules whose MedicationOrder states name a class (all 242 module files were
                   searched) and the five an earlier refresh read (metabolic_syndrome_care,
                   anemia___unknown_etiology, hypertension, copd, covid19/admission):
                   metabolic_syndrome_care, metabolic_syndrome/medications,
                   anemia/anemia_sub, anemia___unknown_etiology, atrial_fibrillation,
                   medications/{hypertension_medication,ace_arb,beta_blocker},
                   congestive_heart_failure, heart/chf_meds{,_hfmef,_hfref_nyha2,_hfref_nyha3,
                   _hfref_nyha4}, hypertension, lupus, rheumatoid_arthritis, copd,
                   covid19/{medications,admission}, allergies/severe_allergic_reaction.
                   Ingredient-level codes (e.g. 5487 "hydrochlorothiazide") are not products and
                   are skipped, like every code without a dose form or strength in its name.
  --fhir DIR       FHIR resources, JSON or XML, laid out as <owner>/<repository>/<path in the
                   repository>, with a `commits.txt` in DIR ("<owner>/<repository> <commit>
                   <licence>" lines) naming the version of each repository read. Read are the
                   RxNorm codings with a display: ValueSet expansions (expansion.contains) and
                   enumerations (compose.include.concept; compose.exclude is left out), Bundles
                   of them, and the codings of example resources. Read (all CC0-1.0):
                     cqframework/dqm-content-usqcore-2026 088ad3ad246d, VSAC expansions
                       (input/vocabulary/valueset/external/): Diabetes Medications
                       2.16.840.1.113762.1.4.1190.58, Hypoglycemics Severe Hypoglycemia
                       2.16.840.1.113762.1.4.1196.393, Potentially Harmful Sulfonylureas for Older
                       Adults 2.16.840.1.113883.3.464.1003.1059 and .1257, Digoxin Medications
                       2.16.840.1.113883.3.464.1003.1065, Diuretics 2.16.840.1.113762.1.4.1248.170,
                       Pharmacologic Therapy for Hypertension 2.16.840.1.113883.3.600.1476;
                     cqframework/ecqm-content-qicore-2024 9ebd48ffebf2: Hypoglycemics Treatment
                       Medications 2.16.840.1.113762.1.4.1196.394, QI-Core Example Medication Codes;
                     cqframework/ecqm-content-r4-2021 0be9c6864640 (older RxNorm releases, for
                       codes old records still carry): Hypoglycemics 2.16.840.1.113762.1.4.1179.3,
                       Hypoglycemics Treatment Medications, Hypoglycemics Severe Hypoglycemia;
                     HL7/PDDI-CDS ae51e303d43e (2022-11-30, the last version that enumerates its
                       codes; input/vocabulary/): valueset-{digoxin, omeprazole, esomeprazole,
                       lansoprazole, dexlansoprazole, pantoprazole, rabeprazole, furosemide,
                       bumetanide, torsemide, ibuprofen}.xml (the ibuprofen set holds the
                       famotidine combinations; the IG's corticosteroid sets are not read: their
                       component codes state no dose form, so eye and ear drops cannot be told
                       from systemic forms);
                     HL7/US-Core 85bf4af6eec4 (input/examples/): medicationrequest-coded-oral-axid
                       (476872) and uscore-med2 (582620), the nizatidine codes of the field report.

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
      --synthea-modules modules/ --fhir fhir/ --retrieved 2026-11-25 [--check]
`--check` exits 1 when the committed map differs from what the inputs give.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import xml.etree.ElementTree as ET
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
_DOSE_GROUP = re.compile(r"\b(product|pill)$")  # dose form groups: "digoxin Oral Liquid Product"
_SYNTHEA_NOTE = re.compile(r"\s+-{1,2}\s.*$")  # the cost table's trailing comment


def _term_type(name: str) -> str | None:
    lower = name.lower()
    if "{" in lower or re.search(r"\bpack\b", lower):
        return "BPCK" if "[" in lower else "GPCK"
    if _DOSE_GROUP.search(lower):
        return "SCDG"
    strength = re.search(r"\d\s*(mg|mcg|ug|unt|meq|ml|%)\b", lower)
    has_form = bool(_DOSE_FORMS.search(lower) or _LOCAL_FORMS.search(lower))  # creams, sprays: forms too
    if "[" in lower:
        if strength:
            return "SBD" if has_form else "SBDC"
        return "SBDF" if has_form else None
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


def _fhir_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".json", ".xml") and p.is_file())


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _json_codings(node: object, system: str | None = None) -> Iterator[tuple[str | None, str, str]]:
    """(system, code, display) of every coding in a FHIR JSON tree. The concepts a ValueSet's
    compose.include enumerates take the include's system; compose.exclude is left out."""
    if isinstance(node, list):
        for item in node:
            yield from _json_codings(item, system)
        return
    if not isinstance(node, dict):
        return
    own = node["system"] if isinstance(node.get("system"), str) else system
    code, display = node.get("code"), node.get("display")
    if isinstance(code, str) and isinstance(display, str):
        yield own, code, display
    for key, value in node.items():
        if key != "exclude" and isinstance(value, (dict, list)):
            yield from _json_codings(value, own if key == "concept" else None)


def _xml_codings(element: ET.Element, system: str | None = None) -> Iterator[tuple[str | None, str, str]]:
    """The same for FHIR XML, where each primitive is an element with a value attribute."""
    values = {_local(child.tag): child.get("value") for child in element if child.get("value") is not None}
    own = values.get("system") or system
    code, display = values.get("code"), values.get("display")
    if code is not None and display is not None:
        yield own, code, display
    for child in element:
        name = _local(child.tag)
        if name != "exclude":
            yield from _xml_codings(child, own if name == "concept" else None)


def _resource(path: Path) -> dict | ET.Element:
    if path.suffix == ".xml":
        return ET.parse(path).getroot()
    return json.loads(path.read_text("utf-8"))


def read_fhir(folder: Path, rxnorm: Iterable[str]) -> Iterator[tuple[str, str]]:
    """RxNorm code and display of every coding in the FHIR resources under folder."""
    systems = set(rxnorm)
    for path in _fhir_files(folder):
        resource = _resource(path)
        codings = _xml_codings(resource) if isinstance(resource, ET.Element) else _json_codings(resource)
        for system, code, display in codings:
            if system in systems and code.strip().isdigit():
                yield code.strip(), " ".join(display.split())  # XML displays may wrap lines


def _title(path: Path) -> str:
    resource = _resource(path)
    if isinstance(resource, ET.Element):
        values = {_local(child.tag): child.get("value") for child in resource}
        kind = _local(resource.tag)
    else:
        values, kind = resource, str(resource.get("resourceType", ""))
    title = values.get("title") or values.get("name")
    if isinstance(title, str):
        return title
    return f"{kind}/{values['id']}" if isinstance(values.get("id"), str) else kind


def fhir_versions(folder: Path) -> list[dict]:
    """One source per repository under folder (<owner>/<repository>/<path>): the commit and
    licence `commits.txt` records for it, and each file read with its resource's title."""
    listed: dict[str, list[str]] = {}
    listing = folder / "commits.txt"
    if listing.is_file():
        for line in listing.read_text("utf-8").splitlines():
            parts = line.split(maxsplit=2)
            if len(parts) >= 2 and not line.startswith("#"):
                listed[parts[0]] = parts[1:]
    files: dict[str, list[dict[str, str]]] = {}
    for path in _fhir_files(folder):
        parts = path.relative_to(folder).parts
        split = 2 if len(parts) > 2 else 0  # <owner>/<repository>/<path>
        repository, inner = "/".join(parts[:split]), "/".join(parts[split:])
        files.setdefault(repository, []).append({"file": inner, "title": _title(path)})
    sources = []
    for repository, read in files.items():
        commit, *licence = listed.get(repository, [""])
        source = {"name": "FHIR value sets and examples (RxNorm codings)", "repository": repository}
        source |= {"commit": commit} if commit else {}
        source |= {"licence": licence[0]} if licence else {}
        sources.append(source | {"files": read})
    return sources


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


def problems(product_map: dict, knowledge: dict) -> list[str]:
    """Where a product map breaks the rules it is built by (empty when it keeps them all): each
    code numeric and not an ingredient code, its label the term type its name's shape gives, its
    name stating the class (local corticosteroid forms and low-dose combinations excluded), the
    not-counted codes only the combinations too weak to count, and the size the number of codes."""
    names, rules = _class_names(knowledge), _rules(knowledge)
    ingredients = {
        i["rxcui"] for item in knowledge["classes"].values() for i in item["ingredients"] if i.get("rxcui")
    }
    found: list[str] = []
    groups = [(key, codes, False) for key, codes in product_map.get("classes", {}).items()]
    groups += [(key, codes, True) for key, codes in product_map.get("not_counted", {}).items()]
    for group, codes, low_dose in groups:
        key = group.removesuffix("-low-dose") if low_dose else group
        if key not in knowledge["classes"]:
            found.append(f"{group}: no such class")
            continue
        for code, label in codes.items():
            tty, _, name = label.partition(" ")
            counted, too_little = classify(name, names, rules)
            if not code.isdigit() or code in ingredients:
                found.append(f"{group} {code}: not a product code")
            elif tty != _term_type(name):
                found.append(f"{group} {code}: {tty} does not fit the name {name!r}")
            elif key not in (too_little if low_dose else counted):
                found.append(f"{group} {code}: {name!r} does not count as {key}")
    if product_map.get("size") != sum(len(codes) for codes in product_map.get("classes", {}).values()):
        found.append("size is not the number of class codes")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthea", type=Path, action="append", default=[])
    parser.add_argument("--omop", type=Path, nargs="*", default=[])
    parser.add_argument("--synthea-modules", type=Path, action="append", default=[])
    parser.add_argument("--fhir", type=Path, action="append", default=[])
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
    for folder in args.fhir:
        pairs.extend(read_fhir(folder, knowledge["systems"]["rxnorm"]))
    classes, not_counted = build(pairs, knowledge)
    product_map = {
        "about": (
            "Generated by scripts/build_medication_map.py: do not edit by hand. RxNorm product codes "
            "(SCD, SBD, GPCK, BPCK, and the SCDC/SBDC components, SCDF/SBDF forms and SCDG groups some "
            "charts send) whose normalized name contains an ingredient of the class, combination "
            "products included. The value is the term type and the RxNorm name."
        ),
        "sources": [
            *(
                [
                    {
                        "name": "Synthea synthetic patient generator, medication cost table",
                        "file": "src/main/resources/costs/medications.csv",
                        "repository": "synthetichealth/synthea",
                        "commit": "aa0772fb5e92e48a776c51508c00eddc0d9d27ff (2026-03-05)",
                        "licence": "Apache-2.0",
                    }
                ]
                if args.synthea
                else []
            ),
            *(
                [
                    {
                        "name": "PEDSnet Variable Dictionary, drug code sets (OMOP vocabulary, RxNorm rows)",
                        "files": sorted(p.name for p in args.omop),
                        "repository": "PEDSnet/Variable-Dictionary",
                        "path": "drugs/",
                        "commit": "009e8ba179c84d844a0c5b898132efb33acdef9e (2024-05-06)",
                        "licence": "none stated: the inputs are not kept, only the codes derived from them",
                    }
                ]
                if args.omop
                else []
            ),
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
            *(source for folder in args.fhir for source in fhir_versions(folder)),
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
        committed = knowledge.get("product_map") or {}
        broken = problems(committed, knowledge)
        for problem in broken:
            print(f"rule broken: {problem}")
        same = committed == product_map
        print("medication map is up to date" if same else "medication map differs from its inputs")
        return 0 if same and not broken else 1
    if broken := problems(product_map, knowledge):  # the build keeps the rules; a failure here is a bug
        print("\n".join(f"rule broken: {problem}" for problem in broken))
        return 1
    knowledge["product_map"] = product_map
    args.knowledge.write_text(json.dumps(knowledge, indent=2, ensure_ascii=False) + "\n", "utf-8")
    counts = ", ".join(f"{key} {len(codes)}" for key, codes in classes.items())
    low = ", ".join(f"{key} {len(codes)}" for key, codes in not_counted.items())
    print(f"{product_map['size']} codes: {counts}; not counted: {low}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
