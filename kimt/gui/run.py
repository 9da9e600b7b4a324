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


class _BackgroundRun:
    """A run in a thread of its own whose records the window takes with `drain()`; the
    one that ends it (`FINISHED`) is kept as `finished`."""

    FINISHED: type = RunFinished

    def __init__(self, name: str):
        self.events: queue.Queue = queue.Queue()
        self.finished = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def drain(self, limit: int = 2000) -> list:
        out: list = []
        try:
            while len(out) < limit:
                event = self.events.get_nowait()
                if isinstance(event, self.FINISHED):
                    self.finished = event
                out.append(event)
        except queue.Empty:
            pass
        return out

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


class MigrationRun(_BackgroundRun):
    def __init__(self, request: RunRequest):
        super().__init__("kimt-engine")
        self.request = request
        self.engine = Engine(request, self._forward)
        self.finished: RunFinished | None = None

    def _forward(self, event: Event) -> None:
        if not isinstance(event, LogLine):
            self.events.put(event)

    def _run(self) -> None:
        try:
            self.engine.run()
        except Exception as e:  # the window must hear about it, not hang on "migrating"
            self.events.put(RunFinished([], 0.0, False, f"unexpected error: {e}"))

    @property
    def stopping(self) -> bool:
        return self.engine.stopping

    def stop(self) -> None:
        self.engine.stop()

    def stop_now(self) -> None:
        self.engine.stop_now()


@dataclass
class PasswordsRequest:
    """What a passwords-only run needs (the wizard builds it from its pages)."""

    source: ServerConfig
    destination: ServerConfig
    admin: KerioAdmin | None  # Kerio's admin API, where KIMT sets passwords
    accounts: list[Account]
    users_text: str
    workers: int = 4


class PasswordsRun(_BackgroundRun):
    """`passwords.run_passwords` in a thread; the same face as `MigrationRun`."""

    FINISHED = passwords.PasswordsFinished

    def __init__(self, request: PasswordsRequest):
        super().__init__("kimt-passwords")
        self.request = request
        self.finished: passwords.PasswordsFinished | None = None
        self._stop = threading.Event()

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

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    def stop_now(self) -> None:  # nothing to kill: each login in flight ends on its own
        self._stop.set()
