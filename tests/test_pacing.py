"""The run's own limits (kimt/core/pacing.py): the token bucket on an injected clock, the
connection caps with the run's own multiprocessing context, and both from a worker process
started the way the engine starts them."""

from __future__ import annotations

import os

import pytest

from kimt.core.limits import Limits
from kimt.core.pacing import RunPacing, ServerCap
from kimt.system.workers import worker_context


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rate(per_second: float, clock: Clock, burst: float = 1.0):
    from kimt.core.pacing import Rate

    return Rate(per_second, "messages", clock=clock, burst=burst)


def test_a_batch_waits_until_it_is_paid_for():
    clock = Clock()
    r = rate(10, clock)
    assert r.reserve(10) == pytest.approx(1.0)  # nothing saved up at the start
    assert r.reserve(10) == pytest.approx(2.0)  # reserved behind the first
    clock.now += 2.0
    assert r.reserve(5) == pytest.approx(0.5)


def test_after_t_seconds_at_most_rate_times_t_plus_the_burst():
    clock = Clock()
    r = rate(100, clock)
    taken = 0
    for _ in range(200):  # a greedy taker that sleeps exactly as told
        clock.now += r.reserve(7)
        taken += 7
    elapsed = clock.now - 1000.0
    assert taken <= 100 * elapsed + 100 * 1.0
    assert taken >= 100 * elapsed - 1e-6  # and it is not slower than asked either


def test_idle_time_saves_up_one_burst_only():
    clock = Clock()
    r = rate(10, clock, burst=1.0)
    clock.now += 3600  # an hour with nothing to copy
    assert r.reserve(10) == 0.0  # one second's worth was saved
    assert r.reserve(10) == pytest.approx(1.0)  # not an hour's


def test_a_batch_larger_than_a_second_waits_its_whole_cost():
    clock = Clock()
    r = rate(2_000_000, clock)
    clock.now += 5
    assert r.reserve(8_000_000) == pytest.approx(3.0)  # 4 s of cost, 1 s saved


def test_both_rates_the_one_that_holds_back_longer_is_named():
    pacing = RunPacing.create(Limits(bytes_per_second=1000, messages_per_second=100),
                              worker_context())
    wait, which = pacing.reserve(10, 5000)
    assert which is pacing.bytes and 4.0 <= wait <= 5.0
    assert which.words() == "1.0 KB/s"  # the bytes rate (in words, no option named)
    assert pacing.reserve(0, 0) == (0.0, None)
    assert RunPacing().reserve(10, 10) == (0.0, None)  # no limits: no wait


def test_a_cap_lends_permits_and_a_refusal_lowers_it_for_good():
    cap = ServerCap("source", 2, worker_context())
    assert cap.take(False) and cap.take(False)
    assert not cap.take(False)  # both lent
    assert cap.lower() == 1  # the caller keeps its permit: one less for good
    cap.give()
    assert cap.take(False)
    assert not cap.take(False)
    assert cap.lower() is None  # never below one: this caller gives it back
    cap.give()
    assert cap.take(False)
    cap.give()
    pacing = RunPacing(source=cap)
    assert pacing.lowered() == ["connections to the source lowered from 2 to 1: the server "
                                "refused connections over its own limit"]


def test_a_waiting_taker_gives_up_when_stopped():
    from kimt.core.errors import StoppedError

    cap = ServerCap("destination", 1, worker_context())
    assert cap.take(True)
    with pytest.raises(StoppedError):
        cap.take(True, should_stop=lambda: True)


def _take_in_a_worker(pacing: RunPacing, out) -> None:
    wait, _ = pacing.reserve(0, 10_000)  # ten seconds' worth
    out.put((wait, pacing.source.take(False), pacing.source.take(False)))


def test_workers_share_the_bucket_and_the_cap():
    """The run's context (the fork server on Linux, spawn elsewhere), the pacing passed as
    a Process argument as the engine does: what one process took, the other sees."""
    ctx = worker_context()
    pacing = RunPacing.create(Limits(bytes_per_second=1000, source_connections=1), ctx)
    out = ctx.Queue()
    results = []
    for _ in range(2):
        p = ctx.Process(target=_take_in_a_worker, args=(pacing, out))
        p.start()
        results.append(out.get(timeout=60))
        p.join(timeout=60)
    waits = sorted(w for w, _, _ in results)
    assert waits[1] >= waits[0] + 5  # the second one was reserved behind the first
    assert [r[1:] for r in results] == [(True, False), (False, False)]  # one permit in all


def _take_and_die(pacing: RunPacing, out) -> None:
    out.put(pacing.source.take(False))
    out.close()
    out.join_thread()  # the answer is on its way before the process ends
    os._exit(9)  # as a SIGKILL would: nothing is given back


def test_a_dead_process_permits_come_back_when_reclaimed():
    """A worker that dies holding a permit can't give it back; the engine frees it by the
    process id, and only that process's permits."""
    ctx = worker_context()
    pacing = RunPacing.create(Limits(source_connections=2), ctx)
    assert pacing.source.take(False)  # this process holds one
    out = ctx.Queue()
    p = ctx.Process(target=_take_and_die, args=(pacing, out))
    p.start()
    assert out.get(timeout=60) is True
    p.join(timeout=60)
    assert p.exitcode == 9
    assert not pacing.source.take(False)  # the dead one's permit is still taken
    assert pacing.reclaim(p.pid) == 1
    assert pacing.reclaim(p.pid) == 0
    assert pacing.source.take(False)  # free again
    assert not pacing.source.take(False)  # and ours was not touched
    pacing.source.give()
    pacing.source.give()
    assert pacing.source.cap == 2
