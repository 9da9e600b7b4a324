"""The wire: the only code that speaks IMAP on a socket.

Everything above it (copier, mailbox, folders, survey) calls plain methods
of a `Wire` — open a folder, list keys, fetch bodies, append a batch,
STATUS many folders, STORE, CREATE — and sees only KIMT's own errors:
`translate` in `_errors` turns every socket, TLS, imaplib and imapclient
failure into the tree of `kimt.core.errors`, in one place. imapclient still
logs in and lists folders; the per-message traffic is KIMT's own, pipelined
(`_connection`), over a pure parser (`_protocol`). Tests put an in-memory
fake with the same methods in its place (tests/fake_wire.py).
"""

from ._client import mark_logged_in, no_delay, peer_certificate, quiet, raw_exchange
from ._connection import AppendAnswer, FolderView, HeaderRecord, Outgoing, Wire
from ._errors import (
    MAX_LINE,
    DailyLimit,
    LineTooLong,
    Refused,
    SessionEnded,
    Throttled,
    response_code,
    server_words,
    throttling,
    translate,
)
from ._protocol import Malformed, NotImap

__all__ = [
    "MAX_LINE",
    "AppendAnswer",
    "DailyLimit",
    "FolderView",
    "HeaderRecord",
    "LineTooLong",
    "Malformed",
    "NotImap",
    "Outgoing",
    "Refused",
    "SessionEnded",
    "Throttled",
    "Wire",
    "mark_logged_in",
    "no_delay",
    "peer_certificate",
    "quiet",
    "raw_exchange",
    "response_code",
    "server_words",
    "throttling",
    "translate",
]
