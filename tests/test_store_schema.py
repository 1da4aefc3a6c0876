"""The migrations build exactly the tables the code describes, and the settings that name the
database fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from cds.config import ConfigError, load_settings
from cds.server.serve import check_shared_database
from cds.store.database import head_revision, open_database
from cds.store.schema import metadata


def test_migrations_build_the_schema_the_code_describes(tmp_path: Path) -> None:
    db = open_database(load_settings(environ={}, database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}"))
    assert db.current_revision() == head_revision()
    with db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


@pytest.mark.parametrize("name", ["feedback_db", "jwt_replay_db"])
def test_removed_settings_are_refused_naming_their_replacement(tmp_path: Path, name: str) -> None:
    config = tmp_path / "cds.toml"
    config.write_text(f'{name} = "x.sqlite3"\n')
    with pytest.raises(ConfigError, match=f"{name}.*removed.*database_url"):
        load_settings(config, environ={})
    with pytest.raises(ConfigError, match=f"CDS_{name.upper()}.*removed"):
        load_settings(environ={f"CDS_{name.upper()}": "x.sqlite3"})


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_serve_refuses_a_database_its_workers_would_not_share(url: str) -> None:
    with pytest.raises(ConfigError, match="not shared by the workers"):
        check_shared_database(load_settings(environ={}, database_url=url))


def test_the_default_database_is_a_file_in_the_data_dir() -> None:
    check_shared_database(load_settings(environ={}, data_dir="/tmp/x"))  # no error


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://db/cds", "expected an sqlite:// or postgresql\\+psycopg:// URL"),
        ("not a url", "not an SQLAlchemy URL"),
        ("postgresql+psycopg://cds@127.0.0.1:1/cds", "database postgresql\\+psycopg://cds@127.0.0.1:1/cds"),
    ],
)
def test_a_database_url_that_cannot_work_is_one_clear_configuration_error(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_database(load_settings(environ={}, database_url=url))


def test_the_database_password_never_appears_in_an_error() -> None:
    with pytest.raises(ConfigError) as refused:
        open_database(
            load_settings(environ={}, database_url="postgresql+psycopg://cds:s3cret@127.0.0.1:1/cds")
        )
    assert "s3cret" not in str(refused.value) and "***" in str(refused.value)
