"""A worker's events reach the main process in batches, in order (`worker._Outbox`).

A real multiprocessing queue, as the engine makes it; the reader is this process.
"""

from __future__ import annotations

import multiprocessing
import queue

from kimt.core.events import DONE, LogLine, MailboxFinished, MailboxResult, MailboxStarted
from kimt.core.worker import _Outbox


def line(n: int) -> LogLine:
    return LogLine("DEBUG", "kimt.copier", f"line {n}", "jdoe@example.com")


def test_log_lines_wait_and_go_together_with_the_mailbox_end_in_order():
    events = multiprocessing.get_context("spawn").Queue()
    outbox = _Outbox(events)
    outbox.put(MailboxStarted("jdoe@example.com", 1))
    assert events.get(timeout=10) == [MailboxStarted("jdoe@example.com", 1)]  # at once
    for n in range(5):
        outbox.put(line(n))
    finished = MailboxFinished(MailboxResult("jdoe@example.com", DONE))
    outbox.put(finished)
    received = []
    while finished not in received:
        received += events.get(timeout=10)
    assert received == [line(n) for n in range(5)] + [finished]


def test_a_lone_line_is_sent_soon_and_a_flood_in_bounded_batches():
    events = multiprocessing.get_context("spawn").Queue()
    outbox = _Outbox(events)
    outbox.put(line(0))
    assert events.get(timeout=10) == [line(0)]  # the outbox's own thread sent it
    for n in range(1, 1 + 2 * _Outbox.MOST):
        outbox.put(line(n))
    outbox.flush()
    batches = []
    while sum(map(len, batches)) < 2 * _Outbox.MOST:
        batches.append(events.get(timeout=10))
    assert [e for b in batches for e in b] == [line(n) for n in range(1, 1 + 2 * _Outbox.MOST)]
    assert max(map(len, batches)) <= _Outbox.MOST
    try:
        extra = events.get(timeout=0.5)
    except queue.Empty:
        extra = None
    assert extra is None, extra
