"""A shadow pilot: every call also assessed under a candidate configuration, never shown.

The site names a TOML file in `shadow_config`. The candidate is the live settings with the
card settings (config.CARD_SETTINGS) and `knowledge_label` that file names applied on top;
anything else in it is ignored, so the file can be the whole next configuration.

On the clinician's path a call only puts itself on a bounded queue (`after_call`), after its
answer is built. A thread per worker takes the calls off the queue one at a time, runs the
same handler with the candidate's settings on the same chart, clock and hookInstance,
compares the two answers (governance.comparison) and writes the pilot's records in batches.
The live answer is never touched. The thread shares the worker's interpreter lock with the
calls, so it yields to them: it starts an assessment only when the worker has answered no
request for QUIET_S (`call_started` / `call_ended` tell it), and a call that arrives during
one waits at most for its end. A full queue drops the call from the pilot (it is a sample:
its figures are over the calls it assessed; a worker busy without pause assesses few).

The file is checked at most once a second and read again when it changes; while it is missing
or unusable (logged) the pilot pauses. So starting, changing or ending a pilot needs no
restart and no change to discovery.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from cds.change.candidate import candidate_settings
from cds.change.version import card_settings, knowledge_version
from cds.config import ConfigError, Settings
from cds.governance.audit import patient_key
from cds.governance.comparison import compare_answers
from cds.governance.process_thread import ProcessThread
from cds.knowledge.version import KnowledgeVersion
from cds.logs import database_error, log_event
from cds.services.call import HookCall
from cds.services.response import Answer, to_json
from cds.store.database import Database
from cds.store.governance import VersionRow, register_version
from cds.store.shadow import ShadowCallRow, ShadowCardRow, record_shadow

Handler = Callable[[HookCall], Answer]  # what answers a call (cds.answer.handlers)
QUEUE_CALLS = 200  # calls waiting for the pilot; each holds its chart, so the bound is small
CHECK_EVERY_S = 1.0  # how often the candidate file is looked at (one stat)
QUIET_S = 0.002  # the worker answered nothing for this long: an assessment may start


@dataclass(frozen=True)
class _Task:
    call: HookCall
    answer: Answer
    handler: Handler
    answered: float = field(default_factory=time.time)  # wall clock, as the file's mtime is


@dataclass(frozen=True)
class _Candidate:
    settings: Settings
    version: KnowledgeVersion
    written: float = 0.0  # the candidate file's mtime: calls answered before it are not piloted


class ShadowPilot:
    def __init__(self, db: Database, settings: Settings, secret: bytes) -> None:
        self._db = db
        self._path = settings.shadow_config
        self._live = settings
        self._live_version = knowledge_version(settings)
        self._secret = secret
        self._flush_s = settings.audit_flush_s or 1.0  # never on the call path, even when the audit is
        # Calls waiting for the pilot. The thread takes one off only while holding the lock, and
        # assesses it before letting go, so a flush sees every call not yet assessed.
        self._waiting: deque[_Task] = deque()
        self._work = threading.Event()  # set when a call is put on `_waiting`
        self._lock = threading.Lock()  # one assessment or write at a time: the thread or a flush
        self._candidate: _Candidate | None = None
        self._seen: tuple[int, ...] | None = None  # (mtime, size, inode) of the file read; () missing
        self._checked = float("-inf")
        self._calls: list[ShadowCallRow] = []
        self._cards: list[ShadowCardRow] = []
        self._versions: dict[str, tuple[VersionRow, datetime]] = {}  # candidate versions to note
        self._noted: set[str] = set()
        self._dropped = 0  # left out since the last write (logged then)
        self.assessed = 0  # calls assessed under a candidate since start (all time, this process)
        self.left_out = 0  # calls left out because the queue was full (all time, this process)
        self._failures: set[str] = set()
        self._worker = ProcessThread("shadow-pilot", self._run, self._lock)
        self._busy = threading.Lock()  # guards the two below
        self._in_flight = 0  # requests this worker is answering now
        self._last_start = 0.0  # monotonic time the latest began
        ref = weakref.ref(self)
        atexit.register(lambda: (pilot := ref()) is not None and pilot.close())

    @property
    def enabled(self) -> bool:
        return bool(self._path)

    # -- on the clinician's path
    def after_call(self, call: HookCall, answer: Answer, handler: Handler) -> None:
        """Queue the answered call for the candidate; the answer is only read, later."""
        if not self._path:
            return
        self._worker.ensure(self._forget_parent_calls)
        if len(self._waiting) >= QUEUE_CALLS:  # counted and logged by the thread; never waited for
            self._dropped += 1
            self.left_out += 1
            return
        self._waiting.append(_Task(call, answer, handler))
        self._work.set()

    def call_started(self, *_: Any, **__: Any) -> None:
        """A request began (any request: the pilot yields to all of them)."""
        with self._busy:
            self._in_flight += 1
            self._last_start = time.monotonic()

    def call_ended(self, *_: Any, **__: Any) -> None:
        with self._busy:
            self._in_flight = max(0, self._in_flight - 1)

    # -- off it
    def refresh(self) -> None:
        """Look at the candidate file on the next assessment, not up to a second later."""
        self._checked = float("-inf")

    def flush(self) -> None:
        """Assess everything queued and write the records (before reading the figures)."""
        with self._lock:
            while self._waiting:
                self._assess(self._waiting.popleft())
            self._write()

    def close(self) -> None:
        mine = self._worker.stop()
        self._work.set()  # wakes the thread to see the stop
        if mine:
            self.flush()

    def _forget_parent_calls(self) -> None:
        # A worker forked from the master that built the app does not assess its master's calls.
        self._waiting = deque()

    def _run(self, stop: threading.Event) -> None:
        next_write = time.monotonic() + self._flush_s
        while True:
            if not self._waiting:
                self._work.wait(timeout=max(0.0, next_write - time.monotonic()))
                self._work.clear()
            # One call at a time, and only in a pause between requests: the GIL goes back to the
            # request threads after each assessment, never held for a batch.
            while self._waiting and self._wait_for_quiet(stop, next_write):
                with self._lock:
                    if self._waiting:
                        self._assess(self._waiting.popleft())
            if stop.is_set():
                with self._lock:
                    self._write()
                return
            if time.monotonic() >= next_write:
                with self._lock:
                    self._write()
                next_write = time.monotonic() + self._flush_s

    def _wait_for_quiet(self, stop: threading.Event, deadline: float) -> bool:
        """True once no request has been in flight for QUIET_S; False when the pilot stops or
        the deadline (its next write) comes first."""
        while not stop.is_set() and time.monotonic() < deadline:
            with self._busy:
                quiet = self._in_flight == 0 and time.monotonic() - self._last_start >= QUIET_S
            if quiet:
                return True
            time.sleep(QUIET_S)
        return False

    def _current(self) -> _Candidate | None:
        now = time.monotonic()
        if now - self._checked < CHECK_EVERY_S:
            return self._candidate
        self._checked = now
        try:
            stat = os.stat(self._path)
            seen: tuple[int, ...] = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except OSError:
            seen = ()
        if seen == self._seen:
            return self._candidate
        self._seen = seen
        self._candidate = None
        if not seen:
            log_event("shadow pilot: paused, no candidate file", path=self._path)
            return None
        try:
            settings = candidate_settings(self._live, self._path)
        except ConfigError as exc:
            log_event(
                "shadow pilot: paused, the candidate cannot be used", logging.ERROR, problem=str(exc)[:300]
            )
            return None
        version = knowledge_version(settings)
        self._candidate = _Candidate(settings, version, seen[0] / 1e9)
        log_event(
            "shadow pilot: candidate loaded",
            candidate=version.version,
            label=version.label or None,
            live=self._live_version.version,
            path=self._path,
        )
        if version.version == self._live_version.version:
            log_event(
                "shadow pilot: the candidate builds the live cards; nothing to compare", logging.WARNING
            )
        return self._candidate

    def _assess(self, task: _Task) -> None:
        candidate = self._current()
        if candidate is None or candidate.version.version == self._live_version.version:
            return
        if task.answered < candidate.written:
            return  # answered before the candidate was written: not part of this pilot
        call = task.call
        shadow = replace(call, settings=candidate.settings)
        try:
            answer = task.handler(shadow)
        except Exception as exc:  # the pilot must never fail anything: the call is left out
            if type(exc).__name__ not in self._failures:
                self._failures.add(type(exc).__name__)
                log_event(
                    "shadow pilot: a call could not be assessed",
                    logging.ERROR,
                    error_type=type(exc).__name__,
                    service=call.service.id,
                )
            return
        live = task.answer
        changed, changes = compare_answers(
            [to_json(c) for c in live.cards],
            [to_json(c) for c in live.silent],
            [to_json(c) for c in answer.cards],
            [to_json(c) for c in answer.silent],
        )
        version, at = candidate.version.version, call.now
        service, hook = call.service.id, call.request.hook_instance
        self._calls.append(
            ShadowCallRow(service, hook, version, self._live_version.version, at, int(changed))
        )
        self.assessed += 1
        if changes:
            patient = patient_key(self._secret, call.request.patient_id or "")
            self._cards.extend(
                ShadowCardRow(
                    version,
                    c.card_uuid,
                    service,
                    hook,
                    c.topic,
                    at,
                    patient,
                    c.live_mode,
                    c.live_indicator,
                    c.candidate_mode,
                    c.candidate_indicator,
                    c.change,
                )
                for c in changes
            )
        if version not in self._noted:
            row = VersionRow(version, candidate.version.label, card_settings(candidate.settings))
            earliest = self._versions.get(version)
            self._versions[version] = (row, min(at, earliest[1]) if earliest else at)

    def _write(self) -> None:
        if self._dropped:
            log_event(
                "shadow pilot: calls left out, the queue was full", logging.WARNING, calls=self._dropped
            )
            self._dropped = 0
        if not self._calls:
            return
        calls, cards, versions = self._calls, self._cards, self._versions
        self._calls, self._cards, self._versions = [], [], {}
        try:
            for row, at in versions.values():
                register_version(self._db, row, at=at, live=False)
                self._noted.add(row.version)
            record_shadow(self._db, calls, cards)
        except Exception as exc:  # a failing database must not take the service down
            log_event(
                "shadow pilot: could not write records",
                logging.ERROR,
                records=len(calls),
                error_type=type(exc).__name__,
                error=database_error(exc),
            )
