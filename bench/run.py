"""Benchmark: prints a markdown report of in-process latency, HTTP throughput and fallback cost.

Run with `make bench` (or `.venv/bin/python bench/run.py [--quick]`). Nothing here asserts:
the figures are for reading, and the README quotes the latest ones. `--baseline REF` (`make
bench BASELINE=REF`) adds the service at an earlier commit to the CPU-per-call table, so a
change is measured before and after in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
import adversarial
from payloads import PATIENT_ID, patient_view, resource_count
from wsgi_cpu import best_cpu_ms, wsgi_cpu_ms

from cds.config import Settings, load_settings
from cds.http.app import create_app
from cds.server.serve import tune_garbage_collection

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
SERVICE_URL = "/cds-services/deficiency-screen"
# On this day the typical chart gets a twitching work-up card, so the card stage is measured too.
CARD_NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def _percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def _time_ms(func: Callable[[], Any], repeat: int) -> list[float]:
    for _ in range(min(5, repeat)):  # warm caches and lazy imports
        func()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _app(**overrides: Any) -> Any:
    settings = load_settings(environ={}, database_url="sqlite://", log_level="WARNING", **overrides)
    app = create_app(settings, clock=lambda: NOW)
    tune_garbage_collection()  # as `cds serve` does, so in-process figures match the server
    return app


# --------------------------------------------------------------------------- in process
def in_process(sizes: list[int], repeat: int) -> list[str]:
    client = _app().test_client()
    lines = [
        "## In-process latency (Flask test client, full call: parse, validate, evaluate, build cards;"
        " garbage collection tuned as `cds serve` tunes it)",
        "",
        "| Observations | resources | payload | json.loads p50 | call p50 | call p99"
        " | call p50 / parse p50 | cards |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        request = patient_view(size)
        body = json.dumps(request).encode()
        runs = max(10, repeat // max(1, size // 100))
        parse = _time_ms(lambda body=body: json.loads(body), runs)

        def call(body: bytes = body) -> Any:
            response = client.post(SERVICE_URL, data=body, content_type="application/json")
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
            return response

        cards = len(call().get_json()["cards"])
        samples = _time_ms(call, runs)
        p50, p99, parse50 = _percentile(samples, 50), _percentile(samples, 99), _percentile(parse, 50)
        lines.append(
            f"| {size:,} | {resource_count(request):,} | {len(body) / 1024:,.0f} KiB | {parse50:.2f} ms"
            f" | {p50:.2f} ms | {p99:.2f} ms | {p50 / parse50:.1f}x | {cards} |"
        )
    lines.append("")
    return lines


def stages(repeat: int) -> list[str]:
    """Where the time of one typical call goes, stage by stage (best of several batches)."""
    from cds.answer.modes import topic_modes
    from cds.answer.pipeline import render_answer
    from cds.answer.runtime import knowledge_for
    from cds.engine import assess_chart
    from cds.http.request import decode_envelope, hook_request, nesting_within
    from cds.reader import read_chart
    from cds.services.call import HookCall, PrefetchResult
    from cds.services.definitions import load_services

    settings = load_settings(environ={}, database_url="sqlite://", log_level="WARNING")
    knowledge = knowledge_for(settings)
    request = patient_view(120)
    body = json.dumps(request).encode()
    depth = settings.max_json_depth
    envelope = decode_envelope(body, max_depth=depth)
    parsed = hook_request(envelope)
    call = HookCall(
        service=load_services(settings.hooks_dir)["deficiency-screen"],
        request=parsed,
        prefetch=PrefetchResult(data=parsed.prefetch),
        now=CARD_NOW,
        settings=settings,
        base_url="http://127.0.0.1:8080",
    )
    hidden = topic_modes(settings).hidden
    chart = read_chart(parsed.prefetch, PATIENT_ID, CARD_NOW, knowledge, judged=True)
    assessment = assess_chart(chart, CARD_NOW, knowledge, hidden)
    answer = render_answer(call, assessment, PATIENT_ID)

    def best(func: Callable[[], Any]) -> float:
        batches = [sum(_time_ms(func, repeat)) / repeat for _ in range(5)]
        return min(batches)

    rows = [
        ("nesting bound on the raw bytes", best(lambda: nesting_within(body, depth))),
        ("decode the envelope (prefetch values kept raw)",
         best(lambda: decode_envelope(body, max_depth=depth))),
        ("schema check and every prefetch value decoded into records", best(lambda: hook_request(envelope))),
        ("read the chart into typed facts (`read_chart`)",
         best(lambda: read_chart(parsed.prefetch, PATIENT_ID, CARD_NOW, knowledge, judged=True))),
        ("guideline engine (`assess_chart`, with the safety check)",
         best(lambda: assess_chart(chart, CARD_NOW, knowledge, hidden))),
        ("cards (`render_answer`)", best(lambda: render_answer(call, assessment, PATIENT_ID))),
        ("response to JSON", best(answer.body)),
    ]
    lines = [
        f"## Where a typical call's time goes ({resource_count(request)} resources,"
        f" {len(body):,} bytes, {len(assessment.findings)} finding(s); best of 5 batches)",
        "",
        "| stage | time |",
        "|---|---:|",
        *(f"| {name} | {ms:.3f} ms |" for name, ms in rows),
        f"| **sum** (the rest is Flask and the HTTP server) | **{sum(ms for _, ms in rows):.3f} ms** |",
        "",
    ]
    return lines


# --------------------------------------------------------------------------- HTTP
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:  # not listening yet, or a worker still booting
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not start")


@contextmanager
def _server(command: list[str], health_url: str, env: dict[str, str]) -> Iterator[int]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_ready(health_url, process)
        yield process.pid
    finally:
        process.terminate()
        process.wait(timeout=15)


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(root: int) -> float | None:
    """CPU time (user + system) of a process and its children (the gunicorn workers), from
    /proc; None where there is no /proc. Unlike requests/s, CPU per request hardly moves
    when the machine is busy with something else."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    total = 0
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == root or ppid == root:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def _wrk(url: str, body_file: Path, seconds: int, connections: int, server: int = 0) -> dict[str, float]:
    script = body_file.with_suffix(".lua")
    script.write_text(
        'local f = io.open("' + str(body_file) + '", "rb")\n'
        "wrk.method = \"POST\"\nwrk.body = f:read(\"*a\")\nf:close()\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("JSON {\\"rps\\": %f, \\"p50\\": %f, \\"p99\\": %f, \\"errors\\": %d,'
        ' \\"non2xx\\": %d}\\n", summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,'
        " latency:percentile(99) / 1000, summary.errors.connect + summary.errors.read + summary.errors.write"
        " + summary.errors.timeout, summary.errors.status))\n"
        "end\n"
    )
    cpu_before = _cpu_seconds(server) if server else None
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    cpu_after = _cpu_seconds(server) if server else None
    line = next(x for x in result.stdout.splitlines() if x.startswith("JSON "))
    measured = json.loads(line.removeprefix("JSON "))
    if cpu_before is not None and cpu_after is not None and measured["rps"]:
        measured["cpu_ms"] = (cpu_after - cpu_before) * 1000 / (measured["rps"] * seconds)
    return measured


def http_throughput(seconds: int, workers: int, threads: int, rounds: int, cooldown: float) -> list[str]:
    if not shutil.which("wrk"):
        return ["## HTTP throughput", "", "wrk is not installed (`apt-get install wrk`); skipped.", ""]
    cds = Path(sys.executable).with_name("cds")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    request = patient_view(120)
    tmp = Path(tempfile.mkdtemp(prefix="cds-bench-"))
    body_file = tmp / "typical.json"
    body_file.write_text(json.dumps(request))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env.update(CDS_DATA_DIR=str(tmp / "data"), CDS_LOG_LEVEL="WARNING", CDS_THREADS=str(threads))
    connections = 2 * workers * threads
    from cds.server.gunicorn_worker import worker_class as service_worker

    chosen = service_worker()  # the trivial app runs on the same worker class as `cds serve`
    worker_class = chosen if isinstance(chosen, str) else f"{chosen.__module__}.{chosen.__qualname__}"
    service_port, trivial_port = _free_port(), _free_port()
    service_url = f"http://127.0.0.1:{service_port}{SERVICE_URL}"
    trivial_url = f"http://127.0.0.1:{trivial_port}/static-card"
    parse_url = f"http://127.0.0.1:{trivial_port}/parse-only"
    runs: list[tuple[dict[str, float], dict[str, float], dict[str, float]]] = []
    with (
        _server(
            [str(cds), "serve", "--port", str(service_port), "--workers", str(workers)],
            f"http://127.0.0.1:{service_port}/healthz",
            env,
        ) as service_pid,
        _server(
            [
                str(gunicorn), "--bind", f"127.0.0.1:{trivial_port}", "--workers", str(workers),
                "--threads", str(threads), "--worker-class", worker_class,
                "--chdir", str(ROOT / "bench"), "--log-level", "warning",
                "trivial_app:app",
            ],
            f"http://127.0.0.1:{trivial_port}/healthz",
            env,
        ) as trivial_pid,
    ):
        servers = {service_url: service_pid, trivial_url: trivial_pid, parse_url: trivial_pid}
        for url in (service_url, trivial_url, parse_url):  # warm all before measuring
            _wrk(url, body_file, 1, connections)
        # Alternate the two in every round, each after an idle pause: on this kind of virtual
        # machine a burst of load slows whatever runs in the next seconds, whichever it is.
        for _ in range(rounds):
            measured = []
            for url in (service_url, trivial_url, parse_url):
                time.sleep(cooldown)
                measured.append(_wrk(url, body_file, seconds, connections, servers[url]))
            runs.append((measured[0], measured[1], measured[2]))
    shutil.rmtree(tmp, ignore_errors=True)
    ratios = sorted(service["rps"] / trivial["rps"] for service, trivial, _ in runs if trivial["rps"])
    median = ratios[len(ratios) // 2] if ratios else 0.0
    parse_ratios = sorted(service["rps"] / parsed["rps"] for service, _, parsed in runs if parsed["rps"])
    parse_median = parse_ratios[len(parse_ratios) // 2] if parse_ratios else 0.0
    rows = []
    for number, (service, trivial, parsed) in enumerate(runs, 1):
        named = (
            ("deficiency-screen (full guideline)", service),
            ("trivial endpoint (static card)", trivial),
            ("parse-only endpoint (json.loads, static card)", parsed),
        )
        for name, result in named:
            cpu = f"{result['cpu_ms']:.2f} ms" if "cpu_ms" in result else "-"
            rows.append(
                f"| {number} | {name} | {result['rps']:,.0f} | {cpu} | {result['p50']:.2f} ms"
                f" | {result['p99']:.2f} ms | {int(result['errors'] + result['non2xx'])} |"
            )
    cpu_ratios = sorted(
        trivial["cpu_ms"] / service["cpu_ms"]
        for service, trivial, _ in runs
        if service.get("cpu_ms") and trivial.get("cpu_ms")
    )
    cpu_line = "Server CPU time is not available on this system (no /proc)."
    if cpu_ratios:
        cpu_median = cpu_ratios[len(cpu_ratios) // 2]
        cpu_line = (
            f"In server CPU time per request the service costs {1 / cpu_median:.1f}x the trivial"
            f" endpoint: with CPU the only limit it would reach **{cpu_median:.0%}** of its throughput"
            f" (per round: {', '.join(f'{r:.0%}' for r in cpu_ratios)})."
        )
    return [
        f"## HTTP throughput (gunicorn, {workers} workers x {threads} threads, wrk 1 thread,"
        f" {connections} connections, {rounds} rounds of {seconds} s per endpoint after {cooldown:g} s idle,"
        " request of"
        f" {resource_count(request)} resources, {len(json.dumps(request)):,} bytes)",
        "",
        "| round | endpoint | requests/s | server CPU / request | p50 | p99 | errors |",
        "|---:|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"Service throughput is **{median:.0%}** of the trivial endpoint's (median of"
        f" {len(ratios)} rounds; per round: {', '.join(f'{r:.0%}' for r in ratios)}), and"
        f" **{parse_median:.0%}** of an endpoint that only parses the request body.",
        "",
        cpu_line,
        "",
    ]


# --------------------------------------------------------------------------- CPU per call
# The table: server CPU time per answered call (utime + stime of the server's
# process tree from /proc, over a load run, divided by the calls answered), for the floor,
# this service and the same clinical job done with fhir.resources models, in one run.
TYPICAL_OBSERVATIONS = 110  # about 74 KB, a typical patient-view request


def _wrk_run(url: str, script: Path, seconds: int, connections: int, server: int) -> dict[str, float]:
    """One load run: calls answered, latency percentiles and the server's CPU per call."""
    cpu_before = _cpu_seconds(server)
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    cpu_after = _cpu_seconds(server)
    line = next(x for x in result.stdout.splitlines() if x.startswith("JSON "))
    measured = json.loads(line.removeprefix("JSON "))
    answered = measured["requests"] - measured["errors"] - measured["non2xx"]
    if cpu_before is not None and cpu_after is not None and answered > 0:
        measured["cpu_ms"] = (cpu_after - cpu_before) * 1000 / answered
    return measured


def _wrk_script(body_file: Path) -> Path:
    script = body_file.with_suffix(".lua")
    script.write_text(
        'local f = io.open("' + str(body_file) + '", "rb")\n'
        "wrk.method = \"POST\"\nwrk.body = f:read(\"*a\")\nf:close()\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("JSON {\\"requests\\": %d, \\"rps\\": %f, \\"p50\\": %f,'
        ' \\"p99\\": %f, \\"errors\\": %d, \\"non2xx\\": %d}\\n", summary.requests,'
        " summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,"
        " latency:percentile(99) / 1000, summary.errors.connect + summary.errors.read"
        " + summary.errors.write + summary.errors.timeout, summary.errors.status))\n"
        "end\n"
    )
    return script


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _per_round(results: list[dict[str, float]]) -> str:
    return ", ".join(f"{r['cpu_ms']:.2f}" if "cpu_ms" in r else "-" for r in results)


@dataclass(frozen=True)
class Baseline:
    """An earlier commit of the service, checked out beside this one to be measured with it."""

    ref: str  # as given, e.g. a tag or 95c5a8f
    commit: str  # its short hash
    tree: Path  # a temporary `git worktree` of it

    @property
    def env(self) -> dict[str, str]:
        """Its `cds` package first on the path: the same virtualenv serves both versions."""
        return {"PYTHONPATH": str(self.tree / "src")}


@contextmanager
def baseline_checkout(ref: str) -> Iterator[Baseline]:
    """REF checked out into a temporary `git worktree` (removed afterwards, whatever happens)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip

    commit = git("rev-parse", "--verify", "--short", f"{ref}^{{commit}}")
    tree = Path(tempfile.mkdtemp(prefix="cds-baseline-")) / commit
    git("worktree", "add", "--detach", str(tree), commit)
    try:
        yield Baseline(ref, commit, tree)
    finally:
        removed = subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)])
        if removed.returncode:
            print(f"bench: could not remove {tree}; `git worktree prune` forgets it", file=sys.stderr)
        shutil.rmtree(tree.parent, ignore_errors=True)


def _service_in_process_ms(body_file: Path, runs: int, env: dict[str, str], expected: Path) -> float:
    """The service's in-process CPU per call, measured in a fresh interpreter (`wsgi_cpu.py`) so
    PYTHONPATH decides which checkout's service it is; checked, not assumed."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "wsgi_cpu.py"), str(body_file), str(runs)],
        env={**os.environ, **env}, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    package = Path(measured["package"]).resolve()
    if package != (expected / "cds").resolve():
        raise RuntimeError(f"measured the service in {package}, expected {expected / 'cds'}")
    return float(measured["cpu_ms"])


ServiceSources = dict[str, tuple[dict[str, str], Path]]  # contender: (environment, its src folder)


def _in_process_ms(body_file: Path, repeat: int, services: ServiceSources) -> dict[str, float]:
    """CPU per call of each contender's application called in process, as `cds serve` and
    gunicorn would call it but without the server: what the server adds is the difference."""
    import fhir_resources_app
    import trivial_app

    body = body_file.read_bytes()
    measured = {
        name: _service_in_process_ms(body_file, repeat, env, src) for name, (env, src) in services.items()
    }
    tune_garbage_collection()
    measured["floor"] = wsgi_cpu_ms(trivial_app.app, "/floor", body, repeat)
    measured["fhir.resources"] = wsgi_cpu_ms(fhir_resources_app.app, SERVICE_URL, body, max(5, repeat // 20))
    return measured


def cpu_per_call(
    rounds: int, seconds: int, cooldown: float, connections: int = 8, baseline: Baseline | None = None
) -> list[str]:
    if not shutil.which("wrk"):
        return ["## CPU per call", "", "wrk is not installed (`apt-get install wrk`); skipped.", ""]
    bin_dir = Path(sys.executable).parent
    request = patient_view(TYPICAL_OBSERVATIONS)
    body = json.dumps(request).encode()
    tmp = Path(tempfile.mkdtemp(prefix="cds-cpu-"))
    body_file = tmp / "typical.json"
    body_file.write_bytes(body)
    script = _wrk_script(body_file)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env.update(CDS_LOG_LEVEL="INFO")
    ports = {name: _free_port() for name in ("floor", "service", "baseline", "fhir.resources")}
    gunicorn_defaults = [str(bin_dir / "gunicorn"), "-w", "2", "--chdir", str(ROOT / "bench")]
    serve = [str(bin_dir / "cds"), "serve"]
    # name: (command, call path, environment); floor and comparator as their users run them.
    # Each service has its own data directory: versions may differ in their database schema.
    floor_bind, comparator_bind = f"127.0.0.1:{ports['floor']}", f"127.0.0.1:{ports['fhir.resources']}"
    comparator = [*gunicorn_defaults, "-b", comparator_bind, "fhir_resources_app:app"]
    service_env = {**env, "CDS_DATA_DIR": str(tmp / "data")}
    contenders: dict[str, tuple[list[str], str, dict[str, str]]] = {
        "floor": ([*gunicorn_defaults, "-b", floor_bind, "trivial_app:app"], "/floor", env),
        "service": ([*serve, "--port", str(ports["service"])], SERVICE_URL, service_env),
    }
    services: ServiceSources = {"service": ({}, ROOT / "src")}
    if baseline:
        baseline_env = {**env, **baseline.env, "CDS_DATA_DIR": str(tmp / "data-baseline")}
        contenders["baseline"] = ([*serve, "--port", str(ports["baseline"])], SERVICE_URL, baseline_env)
        services["baseline"] = (baseline.env, baseline.tree / "src")
    contenders["fhir.resources"] = (comparator, SERVICE_URL, env)
    urls = {name: f"http://127.0.0.1:{ports[name]}{path}" for name, (_c, path, _e) in contenders.items()}
    in_process = _in_process_ms(body_file, 200, services)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
    latency: dict[str, float] = {}
    with ExitStack() as stack:
        pids = {
            name: stack.enter_context(_server(command, f"http://127.0.0.1:{ports[name]}/healthz", environ))
            for name, (command, _path, environ) in contenders.items()
        }
        for name in contenders:  # warm every worker before measuring
            _wrk_run(urls[name], script, 1, connections, pids[name])
        for _ in range(rounds):  # interleaved: a busy minute on the machine hits every contender
            for name in contenders:
                time.sleep(cooldown)
                runs[name].append(_wrk_run(urls[name], script, seconds, connections, pids[name]))
        time.sleep(cooldown)
        sustained = _wrk_run(urls["service"], script, max(10, 2 * seconds), 16, pids["service"])
        latency = {"p50": sustained["p50"], "p99": sustained["p99"], "rps": sustained["rps"]}
    shutil.rmtree(tmp, ignore_errors=True)
    cpu = {name: _median([r["cpu_ms"] for r in results if "cpu_ms" in r]) for name, results in runs.items()}
    failed = {name: sum(int(r["errors"] + r["non2xx"]) for r in results) for name, results in runs.items()}
    labels = {
        "floor": "floor: Flask endpoint, `json.loads` of the body, empty card list; gunicorn `-w 2` defaults",
        "service": "this service, `cds serve`",
        "fhir.resources": "same job with fhir.resources models (R4B Bundle/Observation/Medication*,"
        " B12 and magnesium rules, medication check); Flask, gunicorn `-w 2` defaults",
    }
    if baseline:
        given = f" (`{baseline.ref}`)" if baseline.ref != baseline.commit else ""
        labels["baseline"] = f"this service at `{baseline.commit}`{given}, `cds serve`"
    rows = [
        f"| {labels[name]} | {cpu[name]:.2f} ms | {cpu[name] / cpu['service']:.2f}x"
        f" | {in_process[name]:.2f} ms | {cpu[name] - in_process[name]:.2f} ms"
        f" | {_median([r['rps'] for r in runs[name]]):,.0f}"
        f" | {_per_round(runs[name])} | {failed[name]} |"
        for name in contenders
    ]
    tail = latency["p99"] / latency["p50"] if latency["p50"] else 0.0
    return [
        f"## CPU per call ({len(body):,}-byte patient-view request, {resource_count(request)} resources;"
        f" wrk 1 thread, {connections} connections, {rounds} interleaved rounds of {seconds} s after"
        f" {cooldown:g} s idle; medians)",
        "",
        "| contender | CPU per call | relative to this service | in process (WSGI call, no server)"
        " | the server adds | calls/s | per round (ms) | failed |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
        *rows,
        "",
        *_targets(cpu, "service", "this service"),
        *(_before_and_after(cpu, in_process, baseline) if baseline else []),
        f"- Sustained load, 16 connections, {max(10, 2 * seconds)} s on `cds serve`:"
        f" p50 {latency['p50']:.1f} ms, p99 {latency['p99']:.1f} ms, **p99 = {tail:.1f}x p50**"
        f" (target at most 5x), {latency['rps']:,.0f} calls/s.",
        "",
    ]


def _targets(cpu: dict[str, float], name: str, who: str) -> list[str]:
    return [
        f"- CPU per call of {who} is **{cpu[name] / cpu['floor']:.2f}x the floor's** (target at most 1.5x).",
        f"- The fhir.resources comparator costs **{cpu['fhir.resources'] / cpu[name]:.1f}x as much CPU per"
        f" call as {who}** (target at least 10x).",
    ]


def _before_and_after(cpu: dict[str, float], in_process: dict[str, float], baseline: Baseline) -> list[str]:
    change = cpu["service"] / cpu["baseline"] - 1
    change_in_process = in_process["service"] / in_process["baseline"] - 1
    return [
        *_targets(cpu, "baseline", f"this service at `{baseline.commit}`"),
        f"- Since `{baseline.commit}`: CPU per call {cpu['baseline']:.2f} -> {cpu['service']:.2f} ms"
        f" (**{change:+.0%}**), in process {in_process['baseline']:.2f} -> {in_process['service']:.2f} ms"
        f" ({change_in_process:+.0%}).",
    ]


# --------------------------------------------------------------------------- served-path profile
def _profile_share(raw: Path) -> tuple[int, dict[str, int], dict[str, int]]:
    """Samples (GIL held) from py-spy's raw output: total, by where they fall, by own frame."""
    total = 0
    where: dict[str, int] = {}
    frames: dict[str, int] = {}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        names = stack.split(";")
        if any("call_service" in name for name in names):
            bucket = "the call itself (parse, validate, engine, cards)"
        elif any("Flask.__call__" in name for name in names):
            bucket = "Flask, werkzeug and the app's hooks (logging, CORS)"
        elif any("read_deadline" in name or "ReadDeadlines" in name for name in names):
            bucket = "request deadline"
        else:
            bucket = "gunicorn: accept, poll, parse the HTTP request, hand to a thread, write"
        where[bucket] = where.get(bucket, 0) + samples
        frames[names[-1]] = frames.get(names[-1], 0) + samples
    return total, where, frames


def profile_served(seconds: int = 15) -> list[str]:
    """py-spy samples one `cds serve` worker (GIL-holding samples only) under wrk load."""
    spy = Path(sys.executable).with_name("py-spy")
    if not shutil.which("wrk") or not spy.exists():
        missing = "needs wrk and py-spy (`pip install -e '.[bench]'`); skipped."
        return ["## Served-path profile", "", missing, ""]
    tmp = Path(tempfile.mkdtemp(prefix="cds-profile-"))
    body_file = tmp / "typical.json"
    body_file.write_text(json.dumps(patient_view(TYPICAL_OBSERVATIONS)))
    script = _wrk_script(body_file)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env["CDS_DATA_DIR"] = str(tmp / "data")
    port = _free_port()
    cds = Path(sys.executable).with_name("cds")
    raw = tmp / "profile.txt"
    with _server([str(cds), "serve", "--port", str(port)], f"http://127.0.0.1:{port}/healthz", env) as pid:
        worker = next(
            int(stat.parent.name)
            for stat in Path("/proc").glob("[0-9]*/stat")
            if stat.read_text().rsplit(")", 1)[1].split()[1] == str(pid)
        )
        load = subprocess.Popen(
            ["wrk", "-t1", "-c8", f"-d{seconds + 4}s", "-s", str(script), f"http://127.0.0.1:{port}{SERVICE_URL}"],
            stdout=subprocess.DEVNULL,
        )
        time.sleep(2)
        subprocess.run(
            [str(spy), "record", "-p", str(worker), "-d", str(seconds), "-r", "200", "--gil",
             "-f", "raw", "-o", str(raw)],
            capture_output=True, check=True, timeout=seconds + 30,
        )
        load.wait(timeout=60)
    total, where, frames = _profile_share(raw)
    if os.environ.get("CDS_BENCH_KEEP_PROFILE"):
        shutil.copy(raw, ROOT / "bench" / "results" / "profile.txt")
    shutil.rmtree(tmp, ignore_errors=True)
    top = sorted(frames.items(), key=lambda item: -item[1])[:12]
    return [
        f"## Served-path profile (py-spy, one worker, samples holding the GIL, {seconds} s of wrk -c8;"
        f" {total:,} samples)",
        "",
        "| where the worker's CPU goes | share |",
        "|---|---:|",
        *(f"| {name} | {count / total:.0%} |" for name, count in sorted(where.items(), key=lambda x: -x[1])),
        "",
        "| hottest own frames | share |",
        "|---|---:|",
        *(f"| `{name}` | {count / total:.1%} |" for name, count in top),
        "",
    ]


# --------------------------------------------------------------------------- fallback
class _SlowFhir(BaseHTTPRequestHandler):
    delay_s = 0.1
    bundles: ClassVar[dict[str, Any]] = {}

    def do_GET(self) -> None:
        time.sleep(self.delay_s)
        path = self.path.lstrip("/")
        if path.startswith("Patient/"):
            body = self.bundles["patient"]
        else:
            body = self.bundles.get(path.split("?")[0], {"resourceType": "Bundle", "type": "searchset"})
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def fallback(repeat: int) -> list[str]:
    request = patient_view(120)
    prefetch = request.pop("prefetch")
    _SlowFhir.bundles = {
        "patient": prefetch["patient"],
        "Observation": prefetch["observations"],
        "MedicationStatement": prefetch["medicationStatements"],
        "MedicationRequest": prefetch["medicationRequests"],
        "Condition": prefetch["conditions"],
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowFhir)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        request["fhirServer"] = f"http://127.0.0.1:{server.server_address[1]}"
        request["fhirAuthorization"] = {
            "access_token": "bench-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "myelin-cds",
            "patient": PATIENT_ID,
        }
        # The token may only go to allowed origins: this server's port is chosen at random.
        client = _app(fhir_allowed_servers=(request["fhirServer"],)).test_client()
        body = json.dumps(request).encode()

        def call() -> None:
            response = client.post(SERVICE_URL, data=body, content_type="application/json")
            assert response.status_code == 200, response.get_data(as_text=True)[:300]

        samples = _time_ms(call, repeat)
    finally:
        server.shutdown()
    keys = len(_SlowFhir.bundles)
    return [
        f"## FHIR fallback ({keys} keys missing, FHIR server answering each request in"
        f" {_SlowFhir.delay_s * 1000:.0f} ms)",
        "",
        "| p50 | p99 | min | serial cost would be |",
        "|---:|---:|---:|---:|",
        f"| {_percentile(samples, 50):.1f} ms | {_percentile(samples, 99):.1f} ms | {min(samples):.1f} ms"
        f" | {keys * _SlowFhir.delay_s * 1000:.0f} ms |",
        "",
    ]


def adversarial_inputs(repeat: int) -> list[str]:
    """bench/adversarial.py's table: each worst case next to the typical 5,000-Observation call."""
    client = _app().test_client()
    settings = client.application.extensions["cds"].settings

    def post(body: bytes) -> tuple[int, float]:
        def call() -> int:
            return client.post(SERVICE_URL, data=body, content_type="application/json").status_code

        return call(), _percentile(_time_ms(call, repeat), 50)

    typical = json.dumps(patient_view(5_000)).encode()
    return adversarial.section(post, typical, settings.max_body_bytes, settings.max_resources_per_key)


def audit_cost(repeat: int) -> list[str]:
    """What recording every card costs the clinician: the audit written by the background
    writer (default) against written before the answer (audit_flush_s = 0), on an SQLite file."""
    import uuid

    lines = [
        "## Card audit on the call path (in process, SQLite file with synchronous=FULL, a new"
        " hookInstance per call so every call records its cards)",
        "",
        "| audit write | call p50 | call p99 | cards per call |",
        "|---|---:|---:|---:|",
    ]
    body_template = patient_view(120)
    for label, flush_s in (("background writer (default, 1 s batches)", 1.0), ("synchronous", 0.0)):
        with tempfile.TemporaryDirectory() as directory:
            settings = load_settings(
                environ={}, database_url=f"sqlite:///{directory}/cds.sqlite3", log_level="WARNING",
                audit_flush_s=flush_s,
            )  # fmt: skip
            app = create_app(settings, clock=lambda: CARD_NOW)
            client = app.test_client()

            def call(client: Any = client) -> Any:
                body = dict(body_template, hookInstance=str(uuid.uuid4()))
                response = client.post(SERVICE_URL, json=body)
                assert response.status_code == 200
                return response

            cards = len(call().get_json()["cards"])
            samples = _time_ms(call, repeat)
            app.extensions["cds"].audit.close()
        lines.append(
            f"| {label} | {_percentile(samples, 50):.2f} ms | {_percentile(samples, 99):.2f} ms | {cards} |"
        )
    lines.append("")
    return lines


def shadow_cost(repeat: int) -> list[str]:
    """The clinician's wait with a shadow pilot running beside the calls, in process: the pilot's
    thread shares the interpreter with the calls, so this is where its cost would show. Calls
    come back to back (a worker never idle: the pilot yields, assessing few) or one every 10 ms
    (the pilot assesses in the pauses, and a call arriving during an assessment waits for it)."""
    import uuid

    lines = [
        "## Shadow pilot beside the call path (in process, SQLite file, a new hookInstance per call,"
        " a lower B12 cut-off piloted)",
        "",
        f"| calls arrive | pilot | call p50 | call p90 | call p99 | of the {repeat + 5} calls, as they ran |",
        "|---|---|---:|---:|---:|---:|",
    ]
    body_template = patient_view(120)
    with tempfile.TemporaryDirectory() as directory:
        candidate = Path(directory) / "candidate.toml"
        candidate.write_text("[cutoff_overrides]\nb12_total_deficient = 150\n")
        for pace, pause in (("back to back", 0.0), ("every 10 ms", 0.010)):
            for label, shadow in (("off", ""), ("on", str(candidate))):
                name = f"{directory}/{int(pause * 1000)}-{bool(shadow)}.sqlite3"
                settings = load_settings(environ={}, database_url=f"sqlite:///{name}", log_level="WARNING",
                                         shadow_config=shadow)  # fmt: skip
                app = create_app(settings, clock=lambda: CARD_NOW)
                client = app.test_client()
                pilot = app.extensions["cds"].audit.shadow
                samples = []
                for index in range(repeat + 5):
                    if index == 5:  # the first calls warm the caches; the candidate's knowledge is
                        pilot.flush()  # built once per worker when it is loaded, timed below
                    body = dict(body_template, hookInstance=str(uuid.uuid4()))
                    started = time.perf_counter()
                    assert client.post(SERVICE_URL, json=body).status_code == 200
                    if index >= 5:
                        samples.append((time.perf_counter() - started) * 1000)
                    time.sleep(pause)
                assessed, left_out = pilot.assessed, pilot.left_out  # while the calls ran
                app.extensions["cds"].audit.close()
                p50, p90, p99 = (_percentile(samples, q) for q in (50, 90, 99))
                pilot_did = f"{assessed} assessed, {left_out} left out" if shadow else "-"
                figures = f"{p50:.2f} ms | {p90:.2f} ms | {p99:.2f} ms"
                lines.append(f"| {pace} | {label} | {figures} | {pilot_did} |")
    lines.append("")
    return lines


def feature_costs(repeat: int) -> list[str]:
    """CPU per call of what the call path does besides the guideline, each step alone: the
    metrics updates, putting the card audit on the background writer's queue, that writer's
    batched database write, and the JSON log line."""
    import itertools
    import logging

    from msgspec.structs import replace as with_fields

    from cds.governance.recorder import AuditRecorder
    from cds.logs import configure_logging, log_event
    from cds.observe import metrics
    from cds.services.response import Action, Card, Coding, Source, Suggestion
    from cds.store.database import open_database

    card = Card(
        uuid="", summary="Twitching: tests to complete the work-up", indicator="warning",
        source=Source("myelin-cds", topic=Coding("twitching-workup")),
        suggestions=(Suggestion("Order the tests", "s-1", (Action("create", "Order the tests"),)),),
    )  # fmt: skip
    runs = max(2_000, repeat * 10)

    def cpu_ms(step: Callable[[], Any]) -> float:
        for _ in range(50):
            step()
        return best_cpu_ms(step, runs)

    rows: list[tuple[str, float]] = []
    rows.append(("metrics: the request counter and latency histogram, one card counter", cpu_ms(lambda: (
        metrics.count_request("call", "deficiency-screen", 200, 0.0012),
        metrics.count_card("deficiency-screen", "twitching-workup", "warning"),
    ))))  # fmt: skip
    with tempfile.TemporaryDirectory() as directory:
        settings = load_settings(environ={}, database_url=f"sqlite:///{directory}/cds.sqlite3",
                                 audit_flush_s=3600.0)  # fmt: skip
        recorder = AuditRecorder(open_database(settings), settings)

        numbers = itertools.count()

        def record() -> None:  # a new hookInstance and card uuid each time, as real calls have
            n = next(numbers)
            recorder.record_call(service="deficiency-screen", hook_instance=f"call-{n}", patient_id="p-1",
                                 answered_at=NOW, cards=[with_fields(card, uuid=f"card-{n}")])  # fmt: skip

        rows.append(("card audit: one call's record put on the writer's queue (call path)", cpu_ms(record)))
        queued = 3 * runs + 50
        started = time.process_time()
        recorder.flush()
        rows.append(("card audit: the background writer's batched write, per call (off the call path)",
                     (time.process_time() - started) * 1000 / queued))  # fmt: skip
        recorder.close()
        rows += _shadow_costs(directory, cpu_ms)
    configure_logging("INFO")
    handlers = [h for h in logging.getLogger("cds").handlers if isinstance(h, logging.StreamHandler)]
    with open(os.devnull, "w") as devnull:
        streams = [(handler, handler.setStream(devnull)) for handler in handlers]
        try:
            rows.append(("JSON log line of the call, formatted and written", cpu_ms(lambda: log_event(
                "request", method="POST", path=SERVICE_URL, status=200, duration_ms=1.23,
                service="deficiency-screen", hookInstance=str(NOW), hook="patient-view", cards=1,
            ))))  # fmt: skip
        finally:
            for handler, stream in streams:
                handler.setStream(stream)
    return [
        "## What the call path adds besides the guideline (CPU per call, each step alone, best of 3)",
        "",
        "| step | CPU per call |",
        "|---|---:|",
        *(f"| {name} | {ms * 1000:.1f} us |" for name, ms in rows),
        "",
    ]


def _shadow_costs(directory: str, cpu_ms: Callable[[Callable[[], Any]], float]) -> list[tuple[str, float]]:
    """What a running shadow pilot of a lower B12 cut-off costs per call: putting the answered call
    on the pilot's queue (the clinician's path), then, on the pilot's thread, the candidate's
    assessment, the comparison with the live answer and the batched write."""
    import itertools
    from dataclasses import replace

    import orjson

    from cds.answer.handlers import HANDLERS
    from cds.change.candidate import candidate_settings
    from cds.governance import shadow as shadow_module
    from cds.governance.shadow import ShadowPilot
    from cds.http.request import parse_hook_request
    from cds.services.call import HookCall, PrefetchResult
    from cds.services.definitions import load_services
    from cds.store.database import open_database

    candidate = Path(directory) / "candidate.toml"
    candidate.write_text("[cutoff_overrides]\nb12_total_deficient = 150\n")
    settings = load_settings(environ={}, database_url=f"sqlite:///{directory}/shadow.sqlite3",
                             shadow_config=str(candidate), audit_flush_s=3600.0)  # fmt: skip
    data = orjson.loads(json.dumps(patient_view(120)))
    parsed = parse_hook_request(data)
    call = HookCall(
        service=load_services(settings.hooks_dir, known_handlers=set(HANDLERS))["deficiency-screen"],
        request=parsed, prefetch=PrefetchResult(data=parsed.prefetch), now=CARD_NOW,
        settings=settings, base_url="http://127.0.0.1:8080",
    )  # fmt: skip
    handler = HANDLERS["guideline"]
    answer = handler(call)
    started = time.process_time()
    handler(replace(call, settings=candidate_settings(settings, str(candidate))))
    load_ms = (time.process_time() - started) * 1000  # its knowledge built on its first call
    shadow_module.QUEUE_CALLS = 1_000_000  # room for every timed call: the put itself is measured
    pilot = ShadowPilot(open_database(settings), settings, b"bench")
    pilot._ensure_thread = lambda: None  # type: ignore[method-assign]  # the queue is emptied below
    live_ms = cpu_ms(lambda: handler(call))
    queued_ms = cpu_ms(lambda: pilot.after_call(call, answer, handler))
    pilot._waiting.clear()  # drop what the timing queued; assess a known number
    numbers = itertools.count()

    def queue_calls(count: int) -> None:
        for _ in range(count):  # each a new hookInstance, so every record is written
            request = replace(call.request, hook_instance=f"shadow-{next(numbers)}")
            pilot.after_call(replace(call, request=request), answer, handler)

    queue_calls(5)
    pilot.flush()  # the candidate's knowledge is built once, on its first call: not per call
    off_ms = float("inf")
    for _ in range(3):
        queue_calls(200)
        started = time.process_time()
        pilot.flush()
        off_ms = min(off_ms, (time.process_time() - started) * 1000 / 200)
    return [
        ("for scale, not added: the guideline handler of this call under the live rules", live_ms),
        ("shadow pilot: the answered call put on the pilot's queue (call path)", queued_ms),
        ("shadow pilot: the candidate's assessment, its comparison and batched write, per call "
         "(off the call path, on the pilot's thread)", off_ms),
        ("shadow pilot: reading a new candidate, once per worker when its file changes (off the call path)",
         load_ms),
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, shorter load")
    parser.add_argument("--seconds", type=int, default=None, help="wrk duration per endpoint")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=Settings().threads)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--cpu-only", action="store_true", help="only the CPU-per-call table")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds of the CPU table")
    parser.add_argument("--profile", action="store_true", help="add a py-spy profile of a served worker")
    parser.add_argument(
        "--baseline",
        metavar="REF",
        help="a git ref (commit, tag, branch): the CPU table also runs the service at REF, checked out"
        " into a temporary git worktree, so before and after are measured in one run",
    )
    args = parser.parse_args()
    with ExitStack() as stack:
        baseline = stack.enter_context(baseline_checkout(args.baseline)) if args.baseline else None
        return _run(args, baseline)


def _run(args: argparse.Namespace, baseline: Baseline | None) -> int:
    repeat = 50 if args.quick else 300
    seconds = args.seconds or (3 if args.quick else 8)
    report = _Report(ROOT / "bench" / "results" / "latest.md")
    report += [
        "# myelin-cds benchmark",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()},"
        f" {os.cpu_count()} CPUs, {platform.machine()}",
        "",
    ]
    report += cpu_per_call(args.rounds or (3 if args.quick else 7), 3 if args.quick else 5,
                           1 if args.quick else 3, baseline=baseline)
    if args.profile:
        report += profile_served()
    if args.cpu_only:
        return 0
    report += in_process([10, 100, 1_000, 5_000], repeat)
    report += stages(max(20, repeat // 3))
    report += feature_costs(repeat)
    report += audit_cost(repeat)
    report += shadow_cost(repeat)
    if not args.skip_http:
        report += http_throughput(
            seconds, args.workers, args.threads, 1 if args.quick else 3, 3 if args.quick else 10
        )
    report += fallback(max(10, repeat // 10))
    report += adversarial_inputs(5 if args.quick else 15)
    return 0


class _Report:
    """The report so far, printed and written after every table: a table measured for minutes is
    kept even when a later one fails."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[str] = []
        path.parent.mkdir(exist_ok=True)

    def __iadd__(self, lines: list[str]) -> _Report:
        self.lines += lines
        print("\n".join(lines), flush=True)
        self.path.write_text("\n".join(self.lines) + "\n")
        return self


if __name__ == "__main__":
    raise SystemExit(main())
