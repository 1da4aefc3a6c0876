"""One database for everything that must last or be shared: feedback, used JWT ids, card audit.

`open_database(settings)` builds the engine from `database_url` and checks the schema:
the embedded SQLite default migrates itself; any other database (PostgreSQL for replicas)
must already be at the current revision (`cds db upgrade`), so replicas of different
versions never race to change a shared schema at start-up.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from cds.config import ConfigError, Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
SUPPORTED_BACKENDS = ("sqlite", "postgresql")  # both have INSERT ... ON CONFLICT


class SchemaOutOfDate(ConfigError):
    """The database's schema is not the one this version needs."""


def default_database_url(data_dir: str) -> str:
    return f"sqlite:///{Path(data_dir).expanduser() / 'cds.sqlite3'}"


class Database:
    """Holds the engine; the stores (SqlFeedbackStore, JtiRecord, CardAudit) are built on it.

    One per process: after a fork the child drops the parent's pooled connections and opens
    its own.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        # One in-memory SQLite connection is shared by every thread: writes take turns.
        in_memory = is_in_memory(engine.url.render_as_string(hide_password=False))
        self._write_lock: threading.Lock | None = threading.Lock() if in_memory else None
        # Pooled connections must not cross a fork (gunicorn loads the app in its master).
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _dispose_in_child(ref))

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One atomic transaction: committed when the block ends, rolled back on any error."""
        lock: AbstractContextManager[Any] = self._write_lock or nullcontext()
        with lock, self.engine.begin() as conn:
            yield conn

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def upgrade(self) -> None:
        """Bring the schema to the newest revision (idempotent)."""
        from alembic import command

        with self.transaction() as conn:
            config = _alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def check_schema(self) -> None:
        current, head = self.current_revision(), head_revision()
        if current != head:
            raise SchemaOutOfDate(
                f"database schema is at revision {current or 'none'} but this version needs "
                f"{head}: run `cds db upgrade` (url {self.engine.url.render_as_string()})"
            )

    def insert(self, table: Table) -> Any:
        """An INSERT that can say ON CONFLICT (both supported backends share the syntax)."""
        if self.is_sqlite:
            return sqlite_insert(table)
        return postgresql_insert(table)

    def dispose(self) -> None:
        self.engine.dispose()


def _dispose_in_child(ref: weakref.ref[Database]) -> None:
    db = ref()
    if db is not None:
        db.engine.dispose(close=False)  # drop the parent's connections without closing them


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def create_database_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"setting 'database_url': not an SQLAlchemy URL: {url!r}") from None
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"setting 'database_url': expected an sqlite:// or postgresql+psycopg:// URL, got "
            f"{parsed.drivername}://"
        )
    try:
        if parsed.get_backend_name() != "sqlite":
            return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)
        if is_in_memory(url):
            engine = create_engine(parsed, poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed)
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"setting 'database_url': no driver for {parsed.drivername} ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"setting 'database_url': cannot create {parsed.database}: {exc}") from None
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun explicitly below, not by the driver's own heuristics.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA synchronous = FULL")  # a commit survives a power cut
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Take the write lock at once: a transaction that started reading and then writes
        # would fail with SQLITE_BUSY instead of waiting its turn.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_in_memory(url: str) -> bool:
    """True for an SQLite database that lives in one process's memory (`sqlite://`)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def database_url(settings: Settings) -> str:
    return settings.database_url or default_database_url(settings.data_dir)


def open_database(settings: Settings, *, migrate: bool | None = None) -> Database:
    """Connect to the configured database and make sure its schema is current.

    `migrate`: None (default) migrates SQLite and only checks any other database.
    """
    db = Database(create_database_engine(database_url(settings)))
    try:
        if migrate if migrate is not None else db.is_sqlite:
            db.upgrade()
        else:
            db.check_schema()
    except SchemaOutOfDate:
        db.dispose()
        raise
    except Exception as exc:  # a database that cannot be reached is a start-up error
        db.dispose()
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"database {db.engine.url.render_as_string()}: {first_line(exc)}") from None
    return db


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
