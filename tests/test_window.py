"""The per-process byte window (kimt/core/window.py) and the throttling words
(kimt/core/wire/_errors.py): pure, no server."""

from __future__ import annotations

import threading
import time

import pytest

from kimt.core.errors import StoppedError
from kimt.core.window import ByteWindow
from kimt.core.wire import Throttled, throttling


def test_a_batch_waits_until_it_fits_and_a_lane_holding_nothing_never_waits():
    window = ByteWindow(10)
    lane_a, lane_b = object(), object()
    window.take(8, lane_a, should_stop=lambda: False)
    window.take(8, lane_b, should_stop=lambda: False)  # holds nothing: goes anyway
    assert window.used == 16
    taken = threading.Event()

    def second_batch_of_lane_a() -> None:
        window.take(4, lane_a, should_stop=lambda: False)
        taken.set()

    t = threading.Thread(target=second_batch_of_lane_a)
    t.start()
    assert not taken.wait(0.3)  # 16 + 4 > 10: it waits
    window.give(8, lane_b)
    assert not taken.wait(0.3)  # 8 + 4 > 10 still
    window.give(8, lane_a)
    assert taken.wait(5)
    t.join()
    assert (window.used, window.peak) == (4, 16)


def test_a_message_bigger_than_the_window_goes_once_its_lane_gave_back_the_last():
    """A lane asks for its next batch while it still holds this one; once it has given
    this one back it holds nothing, and even a batch over the capacity goes."""
    window = ByteWindow(10)
    lane = object()
    window.take(4, lane, should_stop=lambda: False)
    taken = threading.Event()
    t = threading.Thread(target=lambda: (window.take(35, lane, lambda: False),
                                         taken.set()))
    t.start()
    assert not taken.wait(0.3)
    window.give(4, lane)
    assert taken.wait(5)
    t.join()
    assert window.used == 35


def test_a_waiting_batch_gives_up_when_the_user_stops():
    window = ByteWindow(10)
    lane = object()
    window.take(10, lane, should_stop=lambda: False)
    stop = time.monotonic() + 0.3
    with pytest.raises(StoppedError):
        window.take(5, lane, should_stop=lambda: time.monotonic() > stop)
    assert window.used == 10


@pytest.mark.parametrize("words,wait", [
    ("Request is throttled. Suggested Backoff Time: 1500 milliseconds", 1.5),
    ("[THROTTLED] slow down", None),
    ("[UNAVAILABLE] Internal error occurred", None),
    ("Maximum number of connections from user+IP exceeded (mail_max_userip_connections=1)",
     None),
    ("Session expired, please login again.", None),
])
def test_what_servers_say_when_they_want_a_client_to_slow_down(words, wait):
    found = throttling(words, " in folder 'INBOX'")
    assert isinstance(found, Throttled)
    assert found.wait == wait
    assert str(found).endswith(f" in folder 'INBOX': {words}")


@pytest.mark.parametrize("words", [
    "[LIMIT] Mail size is larger than the maximum size allowed",  # RFC 5530: too large
    "[OVERQUOTA] Quota exceeded",
    "Mailbox doesn't exist: Archive",
])
def test_refusals_that_are_no_request_to_wait(words):
    assert throttling(words) is None
