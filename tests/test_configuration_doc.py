"""docs/configuration.md is the one place settings are documented: it must name every one."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from cds.config import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_setting_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [f.name for f in fields(Settings) if f"`{f.name}`" not in text]
    assert missing == []
