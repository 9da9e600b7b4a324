"""The per-process byte window (kimt/core/window.py)."""

from __future__ import annotations

import threading

from kimt.core.window import ByteWindow


def test_a_batch_larger_than_the_window_goes_once_its_copier_gave_back():
    """A 35 MB message after a batch of small ones: its copier held the batch being
    appended when it asked, then gave it back; it must not wait for good."""
    window = ByteWindow(100)
    held = [40]
    window.take(40, lambda: 0, lambda: False)  # the batch being appended
    taken = threading.Event()

    def big() -> None:
        window.take(500, lambda: held[0], lambda: False)
        taken.set()

    t = threading.Thread(target=big, daemon=True)
    t.start()
    assert not taken.wait(0.3)  # it waits while its copier holds a batch
    held[0] = 0
    window.give(40)
    assert taken.wait(5)
    assert window.used == 500


def test_a_copier_holding_something_waits_for_room():
    window = ByteWindow(100)
    window.take(80, lambda: 0, lambda: False)  # another copier's batch
    stopped = [False]
    t = threading.Thread(target=lambda: window.take(30, lambda: 10, lambda: stopped[0]),
                         daemon=True)
    t.start()
    t.join(0.3)
    assert t.is_alive()
    window.give(80)
    t.join(5)
    assert not t.is_alive() and window.used == 30
