"""What logging in needs of imapclient's internals, kept here with the rest of the wire.

imapclient has no public way to tune its socket, read the TLS certificate,
send a command imaplib does not know (Kerio's X-MASTERAUTH) or be told that
such a login succeeded; `servers` logs in through these instead.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable

from imapclient import IMAPClient
from imapclient import exceptions as imap_exc


def no_delay(client: IMAPClient) -> None:
    """TCP_NODELAY: imaplib writes a command and its literal in separate small sends,
    and with Nagle's algorithm and the peer's delayed ACK each costs ~40 ms."""
    try:
        client._imap.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # not a TCP socket: nothing to tune
        pass


def peer_certificate(client: IMAPClient) -> bytes | None:
    sock = client._imap.sock  # imapclient exposes no public accessor for the TLS socket
    if isinstance(sock, ssl.SSLSocket):
        return sock.getpeercert(binary_form=True)
    return None


def raw_exchange(client: IMAPClient, command: bytes,
                 on_challenge: Callable[[bytes], bytes] | None = None) -> None:
    """Send a command imaplib does not know (Kerio's X-MASTERAUTH), answer its '+'
    challenges, raise imapclient's LoginError on a tagged NO/BAD; untagged lines
    in between are ignored."""
    imap = client._imap
    tag = imap._new_tag()
    imap.tagged_commands.pop(tag, None)  # answered here, not by imaplib's reader
    imap.send(tag + b" " + command + b"\r\n")
    while True:
        line = imap._get_line()
        if line.startswith(b"+"):
            if on_challenge is None:
                imap.send(b"*\r\n")  # cancel an exchange we did not expect
                continue
            imap.send(on_challenge(line[1:].strip()) + b"\r\n")
        elif line.startswith(tag + b" "):
            status, _, text = line[len(tag) + 1:].partition(b" ")
            if status.upper() != b"OK":
                raise imap_exc.LoginError(text.decode("utf-8", "replace") or status.decode())
            return


def mark_logged_in(client: IMAPClient) -> None:
    """Tell imaplib/imapclient that a login they did not send succeeded."""
    client._imap.state = "AUTH"
    client._cached_capabilities = None  # ask again: servers add capabilities after login
    client._imap.untagged_responses.pop("CAPABILITY", None)


def quiet(client: IMAPClient) -> None:
    """imapclient sets imaplib's debug level 5, which formats a repr() of every answer
    for its logger: a 100 MB body tripled in memory, and the time to build it."""
    client._imap.debug = 0
