"""The rule that takes a transfer slowing to a trickle for a throttle signal
(kimt/core/slowdown.py), on made-up step timings: it must fire on a real slowdown and
stay quiet on what a busy machine and a mixed mailbox look like."""

from __future__ import annotations

import random

import pytest

from kimt.core.errors import SettingsError
from kimt.core.slowdown import RULE_VARIABLE, SlowdownRule, SlowdownWatch, SlowingDown

KB = 1024


def steady(watch: SlowdownWatch, count: int, seconds: float = 0.1, side: str = "source",
           messages: int = 10, nbytes: int = 100 * KB) -> None:
    for _ in range(count):
        watch.record(side, messages, nbytes, seconds)


def test_two_steps_ten_times_slower_and_long_are_the_signal():
    watch = SlowdownWatch(SlowdownRule())
    steady(watch, 8)
    watch.record("source", 10, 100 * KB, 30.0)  # 300 times slower, 30 s
    watch.check()  # one slow step is not yet a signal
    watch.record("source", 10, 100 * KB, 31.0)
    with pytest.raises(SlowingDown) as caught:
        watch.check()
    assert caught.value.side == "source" and caught.value.wait == 60.0
    assert "the source's answers slowed to a trickle (10 messages, 100.0 KB took 31 s, " \
           "310 times slower than before)" in str(caught.value)


def test_a_busy_machine_and_a_mixed_mailbox_are_no_signal():
    rng = random.Random(12)
    watch = SlowdownWatch(SlowdownRule())
    for n in range(2000):
        # scheduling: every step up to 5 times slower than usual, now and then
        watch.record("source", 10, 100 * KB, 0.1 * rng.uniform(0.5, 5))
        watch.record("destination", 10, 100 * KB, 0.2 * rng.uniform(0.5, 5))
        if n % 97 == 0:  # one step stalls for 40 s (a disk flush), alone
            watch.record("source", 10, 100 * KB, 40.0)
        if n % 131 == 0:  # one 30 MB message: few messages a second, bytes as usual
            watch.record("source", 1, 30 * 2**20, 30.0)
        if n % 89 == 0:  # a thousand tiny messages: bytes a second low, messages not
            watch.record("destination", 1000, 500 * KB, 25.0)
        watch.check()


def test_short_steps_are_never_slow():
    watch = SlowdownWatch(SlowdownRule())
    steady(watch, 8, seconds=0.001)
    steady(watch, 10, seconds=15.0)  # 15 000 times slower, but under 20 s each
    watch.check()


def test_after_a_signal_the_slower_pace_is_learnt():
    rule = SlowdownRule(seconds=1.0)
    watch = SlowdownWatch(rule)
    steady(watch, 8)
    steady(watch, 2, seconds=5.0)
    with pytest.raises(SlowingDown):
        watch.check()
    watch.forget()  # reconnected: the server's pace is learnt afresh
    steady(watch, 20, seconds=5.0)
    watch.check()


def test_the_rule_from_the_environment(monkeypatch):
    monkeypatch.setenv(RULE_VARIABLE, "factor=3, seconds=0.5,steps=1,wait=1")
    assert SlowdownRule.from_environment() == SlowdownRule(factor=3, seconds=0.5, steps=1,
                                                           wait=1)
    monkeypatch.setenv(RULE_VARIABLE, "speed=3")
    with pytest.raises(SettingsError, match="unknown figure 'speed'"):
        SlowdownRule.from_environment()
    monkeypatch.delenv(RULE_VARIABLE)
    assert SlowdownRule.from_environment() == SlowdownRule()


def test_a_mailbox_waits_for_a_slowing_source_and_lowers_its_cap(tmp_path, monkeypatch):
    """The real MailboxRun over the in-memory wire: the source's body fetches take 0.3 s
    each after the fifth (0 s before); with a quick rule the lane waits, reconnects, the
    run's cap on source connections is one less, and every message arrives."""
    import time

    from fake_wire import FakeWire, connector
    from test_copy_policy import contents, fill, servers

    from kimt.core.accounts import Account
    from kimt.core.copier import CopyOptions
    from kimt.core.events import DONE, Notice
    from kimt.core.limits import Limits
    from kimt.core.mailbox import JobSettings, MailboxRun
    from kimt.core.pacing import RunPacing
    from kimt.system.workers import worker_context

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    src, dst = servers()
    fill(src, "INBOX", 40)
    fetches = []

    def slowing(wire: FakeWire, method: str) -> None:
        if method == "fetch_bodies":
            fetches.append(method)
            if 5 < len(fetches) <= 8:
                time.sleep(0.3)

    src.before_call = slowing
    job = JobSettings(src.config("source"), dst.config("destination"),
                      copy=CopyOptions(batch_messages=2), state_dir=str(tmp_path / "state"),
                      retry_delay=0.001, connections=1, max_retries=0,
                      slowdown=SlowdownRule(factor=3, seconds=0.2, steps=2, wait=0.01))
    pacing = RunPacing.create(Limits(source_connections=2), worker_context())
    events: list = []
    result = MailboxRun(Account("jdoe@example.com", "secret"), job, events.append,
                        lambda: False, connector=connector(src, dst), pacing=pacing).run()
    assert result.state == DONE, (result.state, result.error)
    assert contents(dst) == contents(src)
    said = [e.text for e in events if isinstance(e, Notice)]
    assert any(t.startswith("waiting 1 s: the server is slowing down (folder 'INBOX'; the "
                            "source's answers slowed to a trickle") for t in said), said
    assert "the source is slowing down; at most 1 connection to it from now on" in said
    assert pacing.lowered() == ["connections to the source lowered from 2 to 1: the server "
                                "refused connections over its own limit, or slowed down"]
    assert result.retries == 0 and result.throttled_seconds > 0
