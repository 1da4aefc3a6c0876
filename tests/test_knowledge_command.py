"""`cds knowledge show` prints the rules as a committee reads them; `cds knowledge diff` names what
a change would do (cut-offs, modes, codes) and says by its exit code whether the cards change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds.cli import main

LOWER_B12 = """knowledge_label = "2027-01 lab assay change"
port = 9090          # not a card setting: never part of the comparison
[cutoff_overrides]
b12_total_deficient = 150
[topic_modes]
twitching-workup = "silent"
"""


@pytest.fixture(autouse=True)
def _no_site_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CDS_CONFIG",
        "CDS_CUTOFF_OVERRIDES",
        "CDS_TOPIC_MODES",
        "CDS_KNOWLEDGE_LABEL",
        "CDS_SHADOW_CONFIG",
        "CDS_RECENT_MONTHS",
    ):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["knowledge", *args])
    out, err = capsys.readouterr()
    return code, out, err


def toml(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_show_prints_cutoffs_modes_and_value_sets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", "--config", toml(tmp_path, "site.toml", LOWER_B12))
    assert code == 0
    b12 = next(line for line in out.splitlines() if line.startswith("b12_total_deficient "))
    assert b12.split() == ["b12_total_deficient", "150", "*", "ng/L", "180", "b12-pathway-2025", "S"]
    workup = next(line for line in out.splitlines() if line.startswith("twitching-workup "))
    assert "silent" in workup.split()
    twitching = next(line for line in out.splitlines() if line.startswith("twitching "))
    assert twitching.split()[-3:] == ["4", "4", "twitching-deficiencies"]  # members, codes, source
    assert "(2027-01 lab assay change)" in out.splitlines()[0]


def test_show_json_is_the_rules_with_their_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "show", "--format", "json")
    data = json.loads(out)
    assert code == 0 and len(data["version"]) == 12
    cutoff = next(c for c in data["cutoffs"] if c["key"] == "magnesium_low")
    assert cutoff == {
        "key": "magnesium_low",
        "value": 0.7,
        "reviewedValue": 0.7,
        "overridden": False,
        "unit": "mmol/L",
        "source": "codes-reference",
        "certainty": "V",
        "text": cutoff["text"],
    }
    assert {t["mode"] for t in data["topics"]} == {"active"}
    ppi = next(s for s in data["codeSets"] if s["key"] == "ppi")
    assert (
        ppi["kind"] == "medication class"
        and "RxNorm 7646" in ppi["codes"]
        and ppi["size"] == len(ppi["codes"])
    )


def test_diff_names_a_changed_cutoff_and_a_changed_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = toml(tmp_path, "a.toml", "port = 8080\n")
    after = toml(tmp_path, "b.toml", LOWER_B12)
    code, out, _ = run(capsys, "diff", "--config", before, "--config", after)
    assert code == 1  # the cards would change
    assert "cut-off b12_total_deficient: 180 -> 150 ng/L" in out
    assert "mode of twitching-workup: active -> silent" in out
    assert "label: (none) -> '2027-01 lab assay change'" in out
    assert "port" not in out

    code, out, _ = run(capsys, "diff", "--config", before, "--config", after, "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["changesCards"] is True
    assert data["to"]["label"] == "2027-01 lab assay change"
    assert [c for c in data["changes"] if c["kind"] != "label"] == [
        {"kind": "cutoff", "key": "b12_total_deficient", "before": 180.0, "after": 150.0, "unit": "ng/L"},
        {"kind": "mode", "key": "twitching-workup", "before": "active", "after": "silent"},
    ]


def test_diff_of_configurations_that_build_the_same_cards_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    same = toml(tmp_path, "same.toml", 'log_level = "DEBUG"\n[cutoff_overrides]\nb12_total_deficient = 180\n')
    code, out, _ = run(capsys, "diff", "--config", same)  # against the running configuration
    assert code == 0 and "No differences." in out


def test_diff_against_a_snapshot_names_codes_added_and_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "show", "--format", "json")
    old = json.loads(out)  # as an earlier release would have saved it
    ppi = next(s for s in old["codeSets"] if s["key"] == "ppi")
    ppi["codes"] = [c for c in ppi["codes"] if c != "RxNorm 7646"] + ["RxNorm 999999"]
    old["knowledgeFiles"] = "0" * 64
    old["version"] = "000000000000"
    snapshot = tmp_path / "release-0.9.json"
    snapshot.write_text(json.dumps(old), encoding="utf-8")
    code, out, _ = run(capsys, "diff", "--snapshot", str(snapshot), "--config", toml(tmp_path, "x.toml", ""))
    assert code == 1
    assert "codes of ppi: 1 added, 1 removed" in out
    assert "  added: RxNorm 7646" in out and "  removed: RxNorm 999999" in out


def test_diff_shows_the_shadow_pilots_candidate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    candidate = toml(tmp_path, "candidate.toml", LOWER_B12)
    monkeypatch.setenv("CDS_SHADOW_CONFIG", candidate)
    monkeypatch.setenv("CDS_TOPIC_MODES", json.dumps({"b12-elevated": "off"}))  # live; the file leaves it
    code, out, _ = run(capsys, "diff", "--shadow", "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["to"]["source"] == f"candidate {candidate}"
    # The file names topic_modes: its table replaces the live one whole.
    assert {"kind": "mode", "key": "b12-elevated", "before": "off", "after": "active"} in data["changes"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[cutoff_overrides]\nno_such_cutoff = 1\n", "unknown cut-off 'no_such_cutoff'"),
        ("[topic_modes]\nno-such-topic = 'silent'\n", "unknown topic codes no-such-topic"),
        ("bogus = 1\n", "unknown setting 'bogus'"),
        ("recent_months = 'x'\n", "setting 'recent_months'"),
        ("[cutoff_overrides\n", "config file"),
    ],
)
def test_a_configuration_that_cannot_be_used_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    code, out, err = run(capsys, "diff", "--config", toml(tmp_path, "bad.toml", text))
    assert code == 2 and out == ""
    assert err.startswith("cds knowledge diff: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["diff", "--snapshot", "/no/such/file.json"], "snapshot /no/such/file.json"),
        (["diff", "--shadow"], "'shadow_config' is not set"),
        (["show", "--shadow"], "'shadow_config' is not set"),
        (["diff", "--config", "a", "--config", "b", "--config", "c"], "at most two"),
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, _, err = run(capsys, *args)
    assert code == 2 and message in err


def test_a_snapshot_that_is_not_one_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "report.json"
    other.write_text('{"calls": 3}', encoding="utf-8")
    code, _, err = run(capsys, "diff", "--snapshot", str(other))
    assert code == 2 and "not a knowledge snapshot" in err
