"""The README's "Try it" commands work against a real `cds serve`, on any day: the example
call is a fixture replayed with its dates moved to today, so it never ages out of its cards."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.served import Served, serve

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DEFAULT = "http://127.0.0.1:8080"


def try_it_commands() -> list[str]:
    section = README.split("## Try it", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "the Try it section has a shell block"
    text = block[1].replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve(tmp_path_factory.mktemp("first-run"))


def test_the_example_call_is_a_replayed_fixture_with_its_cards_shown() -> None:
    replay = [c for c in try_it_commands() if " replay " in f" {c} "]
    assert len(replay) == 1 and "--url" in replay[0] and "--show-cards" in replay[0]
    assert not re.search(r"20\d\d-\d\d-\d\d", README.split("## Try it", 1)[1].split("\n## ", 1)[0])


@pytest.mark.integration
def test_every_try_it_command_works_today(served: Served) -> None:
    commands = try_it_commands()
    assert any(c.startswith("curl") for c in commands)
    for command in commands:
        words = shlex.split(command.split("|")[0].replace(DEFAULT, served.base))
        if words[0] == "curl":
            url = next(w for w in words if w.startswith("http"))
            assert requests.get(url, timeout=10).status_code == 200, command
            continue
        assert words[0].endswith("cds"), command
        result = subprocess.run(
            [str(Path(sys.executable).with_name("cds")), *words[1:]],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 passed, 0 failed" in result.stdout
        start = result.stdout.index("\n    [")
        cards = json.loads(result.stdout[start : result.stdout.index("\n    ]", start) + 6])
        assert cards and all(card["summary"] and card["source"]["topic"]["code"] for card in cards)


def test_make_serve_installs_the_runtime_lock_only(tmp_path: Path) -> None:
    planned = subprocess.run(
        ["make", "--no-print-directory", "-n", "serve", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "--require-hashes --no-deps -r requirements.lock" in planned
    assert "[test]" not in planned and "test-deps" not in planned
    commands = [line for line in planned.splitlines() if not line.startswith("make")]
    assert "cds serve" in commands[-1]
