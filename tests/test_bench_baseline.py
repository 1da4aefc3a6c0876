"""`bench/run.py --baseline REF`: REF in a temporary git worktree, measured with this venv.

Nothing here times anything: the tests check that the checkout is the commit asked for, that
the service measured is the checkout's own package, and that the worktree is gone afterwards.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import patient_view_request

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import run as bench  # noqa: E402  (bench/ is not a package)

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout"
)


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout


def test_the_baseline_is_the_commit_asked_for_and_its_own_package_is_measured(tmp_path: Path) -> None:
    body_file = tmp_path / "call.json"
    body_file.write_text(json.dumps(patient_view_request()))
    with bench.baseline_checkout("HEAD") as baseline:
        assert baseline.commit == _git("rev-parse", "--short", "HEAD").strip()
        assert (baseline.tree / "src" / "cds" / "config.py").is_file()
        assert str(baseline.tree) in _git("worktree", "list")
        cpu_ms = bench._service_in_process_ms(body_file, 1, baseline.env, baseline.tree / "src")
        assert cpu_ms > 0
        # Without its PYTHONPATH the venv's own package answers, and that is refused, not measured.
        with pytest.raises(RuntimeError, match="expected"):
            bench._service_in_process_ms(body_file, 1, {}, baseline.tree / "src")
    assert str(baseline.tree) not in _git("worktree", "list")
    assert not baseline.tree.exists()


def test_an_unknown_ref_is_refused_before_anything_is_checked_out() -> None:
    def baselines() -> list[str]:
        return [line for line in _git("worktree", "list").splitlines() if "cds-baseline-" in line]

    before = baselines()
    with pytest.raises(subprocess.CalledProcessError), bench.baseline_checkout("no-such-ref-0000"):
        pass
    assert baselines() == before
