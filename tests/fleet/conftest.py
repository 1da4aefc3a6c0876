from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fleet.processes import Postgres, postgres_cluster


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL cluster for the session; each test takes a database of its own."""
    with postgres_cluster() as cluster:
        yield cluster
