"""A transfer slowing to a trickle: a server that throttles without saying so.

Some servers never answer "slow down": they answer later and later. KIMT
times each step of a copy on each connection — a batch's body FETCH on the
source, its APPEND on the destination — and compares it with what that
connection did before. The
rule, kept deliberately conservative because a false alarm costs a wait and a
reconnect while a missed one only costs speed:

- A step's pace is its bytes per second and its messages per second. What a
  connection "did before" is the median of each over its last `history`
  steps that were not slow (at least `learn` of them): a median is moved
  neither by one quick answer from a cache nor by one stall.
- A step is slow when it took at least `seconds` (20 s by default: no
  scheduling hiccup of a busy 2-core machine, no disk flush lasts that long)
  and both its paces are under the median divided by `factor` (10): a batch of
  one big message has few messages per second but many bytes, a batch of many
  small ones the reverse, so only a step slow in both ways counts.
- `steps` slow steps in a row on one side (2) are the signal: the connection
  waits `wait` seconds (60), reconnects and goes on, like a server that asked
  to slow down (and a cap on that server's connections is one less). The
  history is then learnt afresh: if the server stays slower for good, that is
  its pace now, and it is not waited for again.

The figures can be changed by the environment variable KIMT_SLOWDOWN_RULE
("factor=10,seconds=20,steps=2,wait=60"), which the tests use to see the rule
fire within seconds.
"""

from __future__ import annotations

import os
import statistics
import threading
from collections import deque
from dataclasses import dataclass, fields

from .errors import SettingsError
from .report import plural, size
from .wire import Throttled

RULE_VARIABLE = "KIMT_SLOWDOWN_RULE"


@dataclass(frozen=True)
class SlowdownRule:
    """When a connection's steps are slow enough to be a throttle signal (module doc)."""

    factor: float = 10.0  # this many times slower than the median, in both paces
    seconds: float = 20.0  # a step shorter than this is never slow
    steps: int = 2  # slow steps in a row that make the signal
    wait: float = 60.0  # seconds waited before reconnecting
    history: int = 16  # steps the median is taken over
    learn: int = 4  # steps needed before anything is slow

    @classmethod
    def from_environment(cls) -> SlowdownRule:
        """The rule, with the figures KIMT_SLOWDOWN_RULE gives ("factor=3,seconds=0.5")."""
        text = os.environ.get(RULE_VARIABLE, "").strip()
        if not text:
            return cls()
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, float | int] = {}
        for item in text.split(","):
            name, _, value = item.partition("=")
            name = name.strip()
            try:
                values[name] = int(value) if types.get(name) == "int" else float(value)
            except ValueError:
                raise SettingsError(f"{RULE_VARIABLE}: '{item}' is not name=number") from None
            if name not in types:
                raise SettingsError(f"{RULE_VARIABLE}: unknown figure '{name}' (one of "
                                    f"{', '.join(types)})")
        return cls(**values)  # type: ignore[arg-type]


class SlowingDown(Throttled):
    """A connection's steps slowed to a trickle (`SlowdownWatch`): wait, reconnect."""

    def __init__(self, message: str, wait: float, side: str):
        super().__init__(message, wait)
        self.side = side  # "source" or "destination"


@dataclass
class _Side:
    history: deque  # (bytes/s, messages/s) of recent steps that were not slow
    slow: int = 0  # slow steps in a row
    worst: str = ""  # the last slow step, in words


class SlowdownWatch:
    """One connection pair's steps, timed (`record`); `check` raises the signal. Steps
    come from two threads (the fetch and the append of the copier)."""

    def __init__(self, rule: SlowdownRule):
        self.rule = rule
        self._sides: dict[str, _Side] = {}
        self._lock = threading.Lock()

    def record(self, side: str, messages: int, nbytes: int, seconds: float) -> None:
        if messages <= 0 or seconds <= 0:
            return
        rule = self.rule
        pace = (nbytes / seconds, messages / seconds)
        with self._lock:
            s = self._sides.setdefault(side, _Side(deque(maxlen=rule.history)))
            if len(s.history) >= rule.learn and seconds >= rule.seconds:
                usual = (statistics.median(p[0] for p in s.history),
                         statistics.median(p[1] for p in s.history))
                if pace[0] * rule.factor < usual[0] and pace[1] * rule.factor < usual[1]:
                    s.slow += 1
                    s.worst = (f"{plural(messages, 'message')}, {size(nbytes)} took "
                               f"{seconds:.0f} s, "
                               f"{usual[0] / max(pace[0], 1e-9):.0f} times slower than "
                               "before")
                    return
            s.slow = 0
            s.history.append(pace)

    def check(self) -> None:
        """Raise SlowingDown when a side has had `steps` slow steps in a row."""
        with self._lock:
            for side, s in self._sides.items():
                if s.slow >= self.rule.steps:
                    raise SlowingDown(f"the {side}'s answers slowed to a trickle ({s.worst})",
                                      self.rule.wait, side)

    def forget(self) -> None:
        """After a reconnect: learn the server's pace afresh."""
        with self._lock:
            self._sides.clear()
