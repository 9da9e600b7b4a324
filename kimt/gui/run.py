"""The engine behind the window: `Engine.run` in a thread, its events in a queue.

The engine starts its own worker processes; this thread only waits for it
and forwards its events (minus Debug log lines, which the engine writes
itself). The Tk side calls `drain()` from `after()`. Nothing Tk crosses a
thread or process boundary here, only the engine's plain event records.
`PasswordsRun` is the same for a passwords-only run (`core.passwords`): its
records are each user's `PasswordOutcome`, then a `PasswordsFinished`.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

from ..core import passwords
from ..core.accounts import Account
from ..core.engine import Engine, RunRequest
from ..core.events import Event, LogLine, RunFinished
from ..core.kerio import KerioAdmin
from ..core.servers import ServerConfig


class MigrationRun:
    def __init__(self, request: RunRequest):
        self.request = request
        self.events: queue.Queue[Event] = queue.Queue()
        self.engine = Engine(request, self._forward)
        self.finished: RunFinished | None = None
        self._thread = threading.Thread(target=self._run, name="kimt-engine", daemon=True)

    def _forward(self, event: Event) -> None:
        if not isinstance(event, LogLine):
            self.events.put(event)

    def _run(self) -> None:
        try:
            self.engine.run()
        except Exception as e:  # the window must hear about it, not hang on "migrating"
            self.events.put(RunFinished([], 0.0, False, f"unexpected error: {e}"))

    def start(self) -> None:
        self._thread.start()

    def drain(self, limit: int = 2000) -> list[Event]:
        out: list[Event] = []
        try:
            while len(out) < limit:
                event = self.events.get_nowait()
                if isinstance(event, RunFinished):
                    self.finished = event
                out.append(event)
        except queue.Empty:
            pass
        return out

    @property
    def stopping(self) -> bool:
        return self.engine.stopping

    def stop(self) -> None:
        self.engine.stop()

    def stop_now(self) -> None:
        self.engine.stop_now()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


@dataclass
class PasswordsRequest:
    """What a passwords-only run needs (the wizard builds it from its pages)."""

    source: ServerConfig
    destination: ServerConfig
    admin: KerioAdmin | None  # Kerio's admin API, where KIMT sets passwords
    accounts: list[Account]
    users_text: str
    workers: int = 4


class PasswordsRun:
    """`passwords.run_passwords` in a thread; the same face as `MigrationRun`."""

    def __init__(self, request: PasswordsRequest):
        self.request = request
        self.events: queue.Queue = queue.Queue()
        self.finished: passwords.PasswordsFinished | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kimt-passwords", daemon=True)

    def _run(self) -> None:
        r = self.request
        try:
            done = passwords.run_passwords(r.source, r.destination, r.admin, r.accounts,
                                           r.users_text, workers=r.workers,
                                           on_outcome=self.events.put,
                                           stopped=self._stop.is_set)
        except Exception as e:  # the window must hear about it, not hang on "checking"
            done = passwords.PasswordsFinished([], 0.0, f"unexpected error: {e}")
        self.events.put(done)

    def start(self) -> None:
        self._thread.start()

    def drain(self, limit: int = 2000) -> list:
        out: list = []
        try:
            while len(out) < limit:
                event = self.events.get_nowait()
                if isinstance(event, passwords.PasswordsFinished):
                    self.finished = event
                out.append(event)
        except queue.Empty:
            pass
        return out

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    def stop_now(self) -> None:  # nothing to kill: each login in flight ends on its own
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
