"""How many message bytes one worker process holds at a time, whatever it copies.

Each lane of each mailbox fetches its next batch while it appends the one
before, so a process copying four mailboxes over two connection pairs each
could hold sixteen batches. The window is shared by every copier of the
process: a batch is fetched only when its bytes fit, and given back once
appended. A copier that holds nothing may always take one batch, so the
window never stops a lane for good, however small it is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .errors import StoppedError


class ByteWindow:
    """A count of bytes in flight, bounded by `capacity` (see the module's docstring).

    Bytes are taken and given back by an owner (a copier): an owner that holds
    nothing at the moment it asks never waits, so a message bigger than the whole
    window still goes, alone.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.used = 0
        self.peak = 0
        self._held: dict[int, int] = {}  # owner -> bytes it holds
        self._changed = threading.Condition()

    def take(self, nbytes: int, owner: object, should_stop: Callable[[], bool]) -> None:
        """Wait until `nbytes` fit (at once when `owner` holds nothing), take them."""
        key = id(owner)
        with self._changed:
            while self._held.get(key, 0) and self.used + nbytes > self.capacity:
                if should_stop():
                    raise StoppedError("stopped by the user")
                self._changed.wait(0.2)
            self.used += nbytes
            self._held[key] = self._held.get(key, 0) + nbytes
            self.peak = max(self.peak, self.used)

    def give(self, nbytes: int, owner: object) -> None:
        key = id(owner)
        with self._changed:
            self.used -= nbytes
            left = self._held.get(key, 0) - nbytes
            if left > 0:
                self._held[key] = left
            else:
                self._held.pop(key, None)
            self._changed.notify_all()


_process_window: ByteWindow | None = None
_lock = threading.Lock()


def process_window(capacity: int) -> ByteWindow:
    """The window of this process, with the capacity its newest run asked for."""
    global _process_window
    with _lock:
        if _process_window is None:
            _process_window = ByteWindow(capacity)
        _process_window.capacity = capacity
        return _process_window
