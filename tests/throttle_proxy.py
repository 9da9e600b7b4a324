"""A stand-in for a server that limits its clients, before a real Dovecot (tests only).

Exchange Online answers a client that goes too fast with `BAD Request is
throttled. Suggested Backoff Time: N milliseconds`; Gmail ends a session
with `* BYE ... Session expired`. No Dovecot setting does either, so this
proxy does, for the first `times` commands that match `trigger` (a regular
expression on the command line the client sends), and passes everything
else through. Client lines are read one by one, literals (APPEND) passed on
by their length. Trigger on a command KIMT sends on an otherwise quiet
connection (a body FETCH), so the proxy's answer never lands inside one of
the server's lines.
"""

from __future__ import annotations

import re
import threading

from tcp_proxy import CommandProxy

EXCHANGE = "exchange"  # BAD Request is throttled. Suggested Backoff Time: ...
GMAIL_BYE = "gmail-bye"  # * BYE Session expired, then the connection is closed


class ThrottleProxy(CommandProxy):
    def __init__(self, target_port: int, mode: str, trigger: bytes, times: int = 1,
                 backoff_ms: int = 1500):
        self.mode, self.trigger, self.left = mode, re.compile(trigger, re.I), times
        self.backoff_ms = backoff_ms
        self.fired = 0
        self._lock = threading.Lock()
        super().__init__(target_port, name="throttle-proxy")

    def answer(self, line: bytes) -> tuple[bytes, bool] | None:
        """(what to send the client instead, whether to close) for a matching command."""
        with self._lock:
            if self.left <= 0 or not self.trigger.search(line):
                return None
            self.left -= 1
            self.fired += 1
        tag = line.split(b" ", 1)[0]
        if self.mode == EXCHANGE:
            return (tag + b" BAD Request is throttled. Suggested Backoff Time: %d "
                    b"milliseconds\r\n" % self.backoff_ms, False)
        return b"* BYE Session expired, please login again.\r\n", True
