"""The package's layout is its architecture: every import points down the story of a call.

Each folder of src/cds is one concern with a rank; a module may import its own folder or a
lower rank, never a higher one, and no two modules import each other in a cycle. Imports
inside functions and under TYPE_CHECKING count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "cds"

# Lowest first. Modules at the package root (config, errors, logs, limits) are the foundation;
# `cli` is the top. Folders of the same rank may not import each other unless listed below.
RANKS: dict[str, int] = {
    "": 0,  # cds/__init__.py, config.py, errors.py, logs.py, limits.py
    "observe": 1,  # metrics, recorded by fhir, trust and http: below all of them
    "knowledge": 1,
    "reader": 2,  # the one reader of FHIR JSON: typed facts
    "engine": 3,  # decisions: facts in, findings out
    "change": 3,  # change control: a configuration's knowledge version, its rules, a candidate
    "schemas": 4,
    "services": 5,
    "store": 6,
    "fhir": 7,
    "trust": 7,
    "governance": 7,  # card audit, silent-mode records, the committee's figures
    "cards": 8,  # wording: findings in, typed cards out
    "answer": 9,  # a call answered: read, assess, render
    "http": 10,
    "companion": 11,  # the SMART companion app: pages and a JSON API beside the hook routes
    "tools": 11,
    "server": 12,
    "cli": 13,
}
PURE = {"knowledge", "reader", "engine"}  # the functional core: nothing from the shell, no I/O frameworks
PURE_FORBIDDEN_THIRD_PARTY = {"flask", "werkzeug", "requests", "gunicorn", "sqlite3", "sqlalchemy"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def concern(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return ""
    if len(parts) == 2 and (PACKAGE / f"{parts[1]}.py").exists():
        return "cli" if parts[1] == "cli" else ""
    return parts[1]


def imports_of(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        # Keep only imports of our own modules ("from cds.x import name" names a module or not).
        edges[name] = {imp for imp in imports_of(path, name) if imp in modules and imp != name}
    return edges


def third_party_imports() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        out[name] = {imp.split(".")[0] for imp in imports_of(path, name) if not imp.startswith("cds")}
    return out


EDGES = graph()


def test_every_folder_has_a_rank() -> None:
    folders = {concern(m) for m in EDGES}
    assert folders <= set(RANKS), f"give these folders a rank: {sorted(folders - set(RANKS))}"


@pytest.mark.parametrize("module", sorted(EDGES))
def test_imports_point_down(module: str) -> None:
    mine = concern(module)
    upward = sorted(
        target
        for target in EDGES[module]
        if concern(target) != mine and RANKS[concern(target)] >= RANKS[mine] and concern(target) != ""
    )
    assert not upward, f"{module} ({mine or 'root'}) imports from its own rank or above: {upward}"


def test_no_import_cycle() -> None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(EDGES[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(EDGES):
        if node not in state:
            visit(node)


def test_the_core_imports_nothing_from_the_shell() -> None:
    third_party = third_party_imports()
    for module, targets in EDGES.items():
        if concern(module) not in PURE:
            continue
        shell = sorted(t for t in targets if concern(t) not in PURE)
        assert not shell, f"{module} is part of the pure core but imports {shell}"
        frameworks = sorted(third_party[module] & PURE_FORBIDDEN_THIRD_PARTY)
        assert not frameworks, f"{module} is part of the pure core but imports {frameworks}"


def test_the_checker_sees_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    """The walk itself works: a lazy import inside a function is found."""
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from cds.http.app import create_app\n    return create_app\n")
    assert "cds.http.app" in imports_of(source, "cds.engine.mod")
    assert concern("cds.engine.rules_b12") == "engine"
    assert concern("cds.config") == ""
    assert concern("cds.cli") == "cli"


# FHIR element names: a module that looks one up in parsed JSON is reading FHIR itself.
FHIR_ELEMENTS = frozenset(
    {
        "resourceType", "entry", "fullUrl", "valueQuantity", "valueString", "effectiveDateTime",
        "medicationCodeableConcept", "medicationReference", "coding", "subject", "clinicalStatus",
        "verificationStatus", "birthDate", "deceasedBoolean", "dataAbsentReason", "authoredOn",
        "dispenseRequest", "dosageInstruction", "referenceRange", "onsetDateTime", "contained",
    }
)  # fmt: skip
# Outside the reader, only the fixture tools edit scenario files (never on a call's path).
MAY_READ_FHIR_JSON = ("cds.reader", "cds.tools")
# Names that are FHIR's but not FHIR JSON read from a chart.
NOT_THE_CHART = {
    "cds.cards.suggestions": "treatments.json words its medicines as FHIR codings (reviewed knowledge)",
    "cds.http.request": "fhirAuthorization.subject is the OAuth subject",
}


def fhir_lookups(path: Path) -> list[str]:
    """`x["entry"]` and `x.get("entry")` for a FHIR element name, with their line numbers."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        key = None
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            key = node.slice.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "pop", "setdefault")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            key = node.args[0].value
        if key in FHIR_ELEMENTS:
            found.append(f"line {node.lineno}: {key!r}")
    return found


@pytest.mark.parametrize(
    "module", sorted(m for m in EDGES if not m.startswith(MAY_READ_FHIR_JSON) and m not in NOT_THE_CHART)
)
def test_only_the_reader_reads_fhir_json(module: str) -> None:
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = PACKAGE.parent / module.replace(".", "/") / "__init__.py"
    lookups = fhir_lookups(path)
    assert not lookups, f"{module} reads FHIR JSON itself ({', '.join(lookups)}): use cds.reader"


def test_the_cards_never_read_the_chart() -> None:
    for module, targets in EDGES.items():
        if concern(module) == "cards":
            readers = sorted(t for t in targets if concern(t) == "reader" and t != "cds.reader.facts")
            assert not readers, f"{module} imports a reader ({readers}): cards render findings only"


def test_the_fhir_json_check_sees_a_lookup(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text('def f(r):\n    return r.get("resourceType"), r["entry"], r.get("other")\n')
    assert fhir_lookups(source) == ["line 2: 'resourceType'", "line 2: 'entry'"]
