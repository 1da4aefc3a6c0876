"""The image is rebuilt from locks: every runtime and build dependency pinned with hashes,
nothing the tests alone need, and a Dockerfile that installs exactly that."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$")


def locked(name: str) -> dict[str, tuple[Version, int]]:
    """name -> (version, number of hashes) of every pin in a lock file."""
    pins: dict[str, tuple[Version, int]] = {}
    current = None
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            current = canonicalize_name(match[1])
            pins[current] = (Version(match[2]), 0)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
        elif line and not line.startswith(("#", " ")):
            pytest.fail(f"{name}: not a pinned requirement: {line!r}")
    return pins


def test_every_runtime_dependency_is_locked_with_hashes() -> None:
    pins = locked("requirements.lock")
    assert all(hashes for _, hashes in pins.values()), "every pin needs its hashes"
    for text in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock: run `make lock`"
        assert pins[name][0] in requirement.specifier, f"{name} {pins[name][0]} does not satisfy {text}"


def test_build_requirements_are_locked_with_hashes() -> None:
    pins = locked("requirements-build.lock")
    for text in PYPROJECT["build-system"]["requires"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins and pins[name][1], f"{requirement.name} is not in requirements-build.lock"
        assert pins[name][0] in requirement.specifier


def test_test_only_packages_stay_out_of_the_runtime() -> None:
    pins = locked("requirements.lock")
    for name in ("fhir-resources", "pytest", "responses", "hypothesis", "selenium"):
        assert name not in pins, f"{name} is only for the tests"
    imported = set()
    for path in (ROOT / "src" / "cds").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported.add(node.module.split(".")[0])
    assert not imported & {"fhir"}, "the service imports a test-only package"


def test_the_dockerfile_installs_the_locks_on_an_exact_base_image() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base[1])
    assert "--require-hashes --no-deps -r requirements.lock" in dockerfile
    assert "--require-hashes --no-deps -r requirements-build.lock" in dockerfile
    assert "pip install --no-deps --no-build-isolation ." in dockerfile
    assert "COPY pyproject.toml README.md LICENSE ./" in dockerfile


def test_the_license_file_matches_pyproject() -> None:
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_readme_says_truly_which_packages_the_image_holds() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sentence = " ".join(readme.split("The test-only packages", 1)[1].split("Licence", 1)[0].split())
    test_only, runtime = sentence.split("are not in it", 1)
    pins = locked("requirements.lock")
    for name in ("fhir.resources", "Selenium"):
        assert name in test_only and canonicalize_name(name) not in pins, name
    for name in ("pydantic", "msgspec"):  # the settings' checks, the reader's decoder
        assert name in runtime and name not in test_only and name in pins, name
