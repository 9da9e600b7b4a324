"""The engine behind the window: `Engine.run` in a thread, its events in a queue.

The engine starts its own worker processes; this thread only waits for it
and forwards its events (minus Debug log lines, which the engine writes
itself). The Tk side calls `drain()` from `after()`. Nothing Tk crosses a
thread or process boundary here, only the engine's plain event records.
"""

from __future__ import annotations

import queue
import threading

from ..core.engine import Engine, RunRequest
from ..core.events import Event, LogLine, RunFinished


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
