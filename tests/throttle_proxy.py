"""A stand-in for a server that limits its clients, before a real Dovecot (tests only).

Exchange Online answers a client that goes too fast with `BAD Request is
throttled. Suggested Backoff Time: N milliseconds`; Gmail ends a session
with `* BYE ... Session expired`, and when an account's day is used up with
`* BYE [OVERQUOTA] Account exceeded command or bandwidth limits.`, refusing
its logins after that. No Dovecot setting does either, so this proxy does,
for the first `times` commands that match `trigger` (a regular expression on
the command line the client sends) once `after` of them went through, and
passes everything else through. Client lines are read one by one, literals
(APPEND) passed on by their length. Trigger on a command KIMT sends on an
otherwise quiet connection (a body FETCH), so the proxy's answer never lands
inside one of the server's lines.
"""

from __future__ import annotations

import re
import threading

from tcp_proxy import CommandProxy

EXCHANGE = "exchange"  # BAD Request is throttled. Suggested Backoff Time: ...
GMAIL_BYE = "gmail-bye"  # * BYE Session expired, then the connection is closed
# Gmail's day is over: "* BYE [OVERQUOTA] Account exceeded command or bandwidth limits.",
# the connection closed, and from then on every login refused with the same words.
GMAIL_DAY = "gmail-day"
_LOGIN = re.compile(rb"^\S+ (LOGIN|AUTHENTICATE) ", re.I)


class ThrottleProxy(CommandProxy):
    def __init__(self, target_port: int, mode: str, trigger: bytes, times: int = 1,
                 backoff_ms: int = 1500, after: int = 0):
        self.mode, self.trigger, self.left = mode, re.compile(trigger, re.I), times
        self.backoff_ms = backoff_ms
        self.after = after  # matching commands passed through before the first answer
        self.day_over = False  # GMAIL_DAY: fired; logins are refused until `new_day()`
        self.refused_logins = 0
        self.fired = 0
        self._lock = threading.Lock()
        super().__init__(target_port, name="throttle-proxy")

    def answer(self, line: bytes) -> tuple[bytes, bool] | None:
        """(what to send the client instead, whether to close) for a matching command."""
        tag = line.split(b" ", 1)[0]
        with self._lock:
            if self.day_over and _LOGIN.match(line):
                self.refused_logins += 1
                return (tag + b" NO [ALERT] Account exceeded command or bandwidth limits. "
                        b"(Failure)\r\n", False)
            if self.left <= 0 or not self.trigger.search(line):
                return None
            if self.after > 0:
                self.after -= 1
                return None
            self.left -= 1
            self.fired += 1
            if self.mode == GMAIL_DAY:
                self.day_over = True
        if self.mode == GMAIL_DAY:
            return b"* BYE [OVERQUOTA] Account exceeded command or bandwidth limits.\r\n", True
        if self.mode == EXCHANGE:
            return (tag + b" BAD Request is throttled. Suggested Backoff Time: %d "
                    b"milliseconds\r\n" % self.backoff_ms, False)
        return b"* BYE Session expired, please login again.\r\n", True

    def new_day(self) -> None:
        """Gmail's day is over for the account: everything passes again."""
        with self._lock:
            self.day_over, self.left = False, 0
