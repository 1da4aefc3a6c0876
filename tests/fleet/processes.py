"""Real processes on loopback for the fleet tests: a PostgreSQL cluster, `cds serve`, nginx.

Each is started by the test in a temporary directory on free ports and stopped by it. The
binaries come from Debian's packages (scripts/install-test-deps.sh installs them); where they
are missing outside CI the tests are skipped with the reason, in CI (or as root, where the
install script provides them) they fail instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.served import Service, cds_environment, free_port, start_serve, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"


def require(what: str, found: str | None) -> str:
    """The path of a binary, or a skip (developer machine) / failure (CI, root) naming it."""
    if found:
        return found
    message = f"{what} is not installed (bash scripts/install-test-deps.sh installs it)"
    if os.environ.get("CI") or os.geteuid() == 0:
        pytest.fail(message)
    pytest.skip(message)


def postgres_bin(name: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key)
    return require(f"PostgreSQL's {name} (Debian package postgresql)", candidates[-1] if candidates else None)


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"/postgresql/(\d+)", path))


def nginx_bin() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    return require("nginx (Debian package nginx)", found)


def _as_unprivileged(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the package's `postgres` user then."""
    if os.geteuid() != 0:
        return cmd
    try:
        user = pwd.getpwnam("postgres").pw_name
    except KeyError:
        user = "nobody"
    return ["runuser", "-u", user, "--", *cmd]


def _chown_for_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres") if _has_user("postgres") else pwd.getpwnam("nobody")
        for item in [path, *path.rglob("*")]:
            os.chown(item, entry.pw_uid, entry.pw_gid)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class Postgres:
    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.url = f"postgresql+psycopg://cds@127.0.0.1:{port}/cds"

    def _pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_unprivileged(
                [
                    postgres_bin("pg_ctl"),
                    "-D",
                    str(self.directory / "data"),
                    "-l",
                    str(self.directory / "log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    *args,
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        """Stop the server at once (as an outage would): clients see their connections drop."""
        self._pg_ctl("-m", "immediate", "stop")

    def start(self) -> None:
        self._pg_ctl("start")

    def psql(self, sql: str, database: str = "cds") -> str:
        out = subprocess.run(
            _as_unprivileged(
                [
                    postgres_bin("psql"),
                    "-h",
                    str(self.directory),
                    "-p",
                    str(self.port),
                    "-U",
                    "cds",
                    "-d",
                    database,
                    "-At",
                    "-c",
                    sql,
                ]
            ),
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    def new_database(self) -> tuple[str, str]:
        """A fresh, empty database of this cluster: (name, SQLAlchemy URL)."""
        self._count = getattr(self, "_count", 0) + 1
        name = f"cds_{os.getpid()}_{self._count}"
        self.psql(f"CREATE DATABASE {name}")
        return name, f"postgresql+psycopg://cds@127.0.0.1:{self.port}/{name}"


@contextmanager
def postgres_cluster() -> Iterator[Postgres]:
    """A fresh cluster (trust auth on loopback, socket in its own directory), then gone."""
    initdb, pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
    directory = Path(tempfile.mkdtemp(prefix="cds-pg-"))  # in /tmp: reachable by `postgres`
    data = directory / "data"
    port = free_port()
    _chown_for_postgres(directory)
    try:
        subprocess.run(
            _as_unprivileged(
                [initdb, "-D", str(data), "-U", "cds", "--auth=trust", "-E", "UTF8", "--no-sync"]
            ),
            check=True,
            capture_output=True,
        )
        options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_unprivileged(
                [
                    pg_ctl,
                    "-D",
                    str(data),
                    "-l",
                    str(directory / "log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        cluster = Postgres(directory, port)
        subprocess.run(
            _as_unprivileged(
                [postgres_bin("createdb"), "-h", str(directory), "-p", str(port), "-U", "cds", "cds"]
            ),
            check=True,
            capture_output=True,
        )
        yield cluster
    finally:
        subprocess.run(
            _as_unprivileged([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(directory, ignore_errors=True)


def service_environment(directory: Path, **settings: str) -> dict[str, str]:
    return cds_environment(directory, **{"CDS_LOG_LEVEL": "INFO", "CDS_PREVIEW_ENABLED": "false", **settings})


def start_service(directory: Path, name: str, *, workers: int = 1, **settings: str) -> Service:
    env = service_environment(directory, **settings)
    return start_serve(directory, directory / f"{name}.log", env, workers=workers)


class Nginx:
    def __init__(self, process: subprocess.Popen[bytes], port: int, prefix: Path) -> None:
        self.process = process
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.prefix = prefix


def nginx_config(upstreams: list[int], port: int, prefix: Path) -> str:
    """The shipped deploy/nginx.conf with only its addresses, ports and paths rewritten."""
    text = NGINX_CONF.read_text()
    # The replica lines keep their options (max_fails ...); only the addresses change.
    block = re.search(r"^( +)server cds-\d+:\d+([^;\n]*);\n(?:\1server [^\n]*\n)*", text, re.M)
    assert block, "deploy/nginx.conf: the replicas' server lines were not found"
    indent, options = block.group(1), block.group(2)
    servers = "".join(f"{indent}server 127.0.0.1:{p}{options};\n" for p in upstreams)
    text = text[: block.start()] + servers + text[block.end() :]
    text, count = re.subn(r"listen \d+;", f"listen 127.0.0.1:{port};", text)
    assert count == 1, "deploy/nginx.conf: the listen line was not found"
    text = text.replace("pid /run/nginx.pid;", f"pid {prefix}/nginx.pid;")
    text = re.sub(r"^user [^;]+;\n", "", text, flags=re.M)  # the test runs it as itself
    text = text.replace("/var/log/nginx/", f"{prefix}/")
    text = text.replace("/var/cache/nginx/", f"{prefix}/")
    return "daemon off;\n" + text


@contextmanager
def nginx_in_front(upstreams: list[int], edit: Callable[[str], str] | None = None) -> Iterator[Nginx]:
    """nginx with the shipped configuration (`edit` changes it as an operator would)."""
    binary = nginx_bin()
    # In /tmp and world-readable: nginx's workers (`nobody` when started as root) write their
    # buffer files under the prefix.
    prefix = Path(tempfile.mkdtemp(prefix="cds-nginx-"))
    prefix.chmod(0o755)
    port = free_port()
    conf = prefix / "nginx.conf"
    log = prefix / "stderr.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        text = nginx_config(upstreams, port, prefix)
        conf.write_text(edit(text) if edit else text)
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [binary, "-p", str(prefix), "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT
            )
        proxy = Nginx(process, port, prefix)
        wait_until_ready(f"{proxy.base}/healthz", process, log)
        yield proxy
    finally:
        if process is not None:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(prefix, ignore_errors=True)
