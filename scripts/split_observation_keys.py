"""Rewrite fixtures whose request sends the former single `observations` key with the current
keys of their service (hooks/*.json `myelin.formerPrefetch`): each result under the key of its
family (knowledge/labs.json). Fixtures marked `formerDiscovery` keep the former key on purpose.

Usage: .venv/bin/python scripts/split_observation_keys.py fixtures/ [tests/integration/data/ ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cds.config import _REPO_ROOT
from cds.knowledge import load_knowledge
from cds.services.definitions import load_services
from cds.tools.fixtures import FixtureError, fixture_paths, split_former_keys


def main(targets: list[str]) -> int:
    services = load_services(_REPO_ROOT / "hooks")
    knowledge = load_knowledge()
    changed = 0
    try:
        paths = fixture_paths(list(targets))
    except FixtureError as exc:
        print(exc, file=sys.stderr)
        return 2
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        service = services.get(data.get("service", ""))
        if service is None or "formerDiscovery" in data:
            continue
        prefetch = data["request"].get("prefetch") or {}
        if not any(key in prefetch for key in service.former_prefetch):
            continue
        try:
            data["request"]["prefetch"] = split_former_keys(prefetch, service, knowledge)
        except FixtureError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            return 1
        Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        changed += 1
        print(f"split {path}")
    print(f"{changed} fixture(s) rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["fixtures"]))
