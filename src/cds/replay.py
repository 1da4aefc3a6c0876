"""`cds replay`: send FHIR fixtures as hook requests and diff the cards against goldens."""

from __future__ import annotations

from typing import Any


def register(commands: Any) -> None:
    """Add the `replay` sub-command to the `cds` parser."""
