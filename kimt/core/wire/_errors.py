"""Every low-level failure becomes one of KIMT's errors here, and nowhere else.

    socket timeout                      -> ConnectError  "the server stopped answering"
    OSError, ssl.SSLError, EOF          -> ConnectError  "connection lost"
    * BYE, imaplib's abort              -> ConnectError  "the server ended the session"
    an answer that does not parse       -> ProtocolError "not valid IMAP" / "could not
                                                          understand"
    a line over MAX_LINE                -> ProtocolError "answer line longer than ..."
    a tagged NO or BAD                  -> Refused (a ServerError) with the server's words

In the manner of httpx's `map_httpcore_exceptions`: the layers above catch
KIMT's tree only, never imapclient's or imaplib's types, and never match
words in an exception's text.
"""

from __future__ import annotations

import imaplib
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from imapclient import exceptions as imap_exc

from ..errors import ConnectError, ProtocolError, ServerError
from ._protocol import Malformed, NotImap, response_codes

# imaplib refuses answer lines over 1 MB, but the UID SEARCH answer of a folder of
# 150 000 messages is longer. Longer than this, a line is a protocol error.
MAX_LINE = 32 * 2**20
imaplib._MAXLINE = MAX_LINE  # no public setting


class Refused(ServerError):
    """The server answered a command with NO or BAD; str() is its own words."""

    @property
    def code(self) -> str | None:
        """The RFC 5530 response code it gave ("ALREADYEXISTS"), upper case; None."""
        m = _RESPONSE_CODE.match(str(self))
        return m.group(1).upper() if m else None


_RESPONSE_CODE = re.compile(r"\s*\[([A-Za-z0-9.-]+)[ \]]")


class SessionEnded(ConnectError):
    """The server said BYE, or closed the connection."""


class Throttled(ConnectError):
    """The server asked KIMT to slow down, or refused a connection over its limit:
    wait (`wait` seconds when it said how long), reconnect, go on. Never a failure."""

    def __init__(self, message: str, wait: float | None = None):
        super().__init__(message)
        self.wait = wait


class DailyLimit(Throttled):
    """The account has moved all a server lets it move in a day (Gmail: "Account
    exceeded command or bandwidth limits"): no wait within a run helps. The mailbox
    stops at a clean point, not failed; the same run started again once the day is
    over goes on where it stopped."""


# Gmail's words when an account has used up its day (about 2 500 MB downloaded or 500 MB
# uploaded over IMAP): "[OVERQUOTA] Account exceeded command or bandwidth limits." in a
# BYE or a NO, "[ALERT] ... (Failure)" at login. Not [OVERQUOTA] alone: RFC 5530 gives it
# to a full mailbox too, which is the destination's quota, not a day's limit.
_DAY_WORDS = ("BANDWIDTH LIMIT",)

# What servers say when KIMT goes too fast or opens too many connections: Exchange
# Online's suggested backoff, RFC 5530's codes, Dovecot's connection limit, Gmail's
# "Session expired" BYE, and the plain words others use.
_BACKOFF = re.compile(r"Suggested Backoff Time:\s*(\d+)\s*milli", re.IGNORECASE)
# Not RFC 5530's [LIMIT] alone: servers also use it for "message too large".
_LIMIT_WORDS = ("[THROTTLED]", "[UNAVAILABLE]", "REQUEST IS THROTTLED",
                "MAXIMUM NUMBER OF CONNECTIONS", "TOO MANY CONNECTIONS",
                "TOO MANY SIMULTANEOUS", "SESSION EXPIRED", "RATE LIMIT")


def throttling(text: str, where: str = "") -> Throttled | None:
    """A `Throttled` when a server's words are a request to slow down (a `DailyLimit`
    when they say the day's volume is used up), else None."""
    upper = text.upper()
    if any(w in upper for w in _DAY_WORDS):
        return DailyLimit(f"the server's daily limit is reached{where}: {text}")
    m = _BACKOFF.search(text)
    if m:
        return Throttled(f"the server asked to slow down{where}: {text}",
                         int(m.group(1)) / 1000)
    if any(w in upper for w in _LIMIT_WORDS):
        return Throttled(f"the server asked to slow down{where}: {text}")
    return None


class LineTooLong(ProtocolError):
    """An answer line longer than MAX_LINE."""


_TIMING = re.compile(r"\s*\([\d.+ ]+ secs\)\.?$")  # Dovecot's "(0.001 + 0.002 secs)."


def server_words(error: BaseException | str, empty: str = "no reason given") -> str:
    """A server's own words from an error: no b'' wrapping, no timing."""
    text = str(error)
    for prefix in ("b'", 'b"'):
        if prefix in text:
            text = text.replace(prefix, "").rstrip("'\"")
    return _TIMING.sub(".", text.strip()) or empty


def response_code(text: str) -> str:
    """The first `[CODE]` of a server's words (RFC 5530), upper case; '' without one."""
    found = response_codes(text.encode("utf-8", "replace"))
    return next(iter(found), b"").decode("ascii", "replace").upper()


def words(data: bytes) -> str:
    return server_words(data.decode("utf-8", "replace"))


@contextmanager
def translate(where: str = "") -> Iterator[None]:
    """Run a wire step; whatever breaks leaves as a KIMT error. `where` ends each text
    (" in folder 'INBOX'") so the admin reads what was being done."""
    try:
        yield
    except (Refused, ConnectError, ProtocolError):
        raise
    except TimeoutError:  # the read timeout fired: a stall, not a refusal
        raise ConnectError(f"the server stopped answering{where} (read timeout)") from None
    except imap_exc.IMAPClientAbortError as e:  # imaplib ends the session
        raise SessionEnded(f"the server ended the session{where}: {server_words(e)}") from None
    except imaplib.IMAP4.abort as e:
        raise SessionEnded(f"the server ended the session{where}: {server_words(e)}") from None
    except (OSError, ssl.SSLError) as e:
        raise ConnectError(f"connection lost{where}: {server_words(e)}") from None
    except NotImap as e:
        raise ProtocolError(f"protocol error (an answer that is not valid IMAP){where}: "
                            f"{e}") from None
    except Malformed as e:
        raise ProtocolError(f"the server sent an answer KIMT could not understand{where}: "
                            f"{e}") from None
    except (imap_exc.IMAPClientError, imaplib.IMAP4.error) as e:
        text = server_words(e)
        if text.startswith("got more than"):  # imaplib's readline limit
            raise LineTooLong(f"protocol error{where}: the server sent an answer line longer "
                              f"than {MAX_LINE // 2**20} MB") from None
        raise Refused(text) from None
