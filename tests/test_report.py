"""The Totals block as an administrator reads it (pure: no server, no files)."""

from __future__ import annotations

from kimt.core.events import DONE, FolderResult, MailboxResult
from kimt.core.report import describe_server, totals
from kimt.core.servers import ServerConfig


def copied(messages: int, nbytes: int) -> MailboxResult:
    folder = FolderResult("INBOX", "INBOX", total=messages, copied=messages,
                          bytes_copied=nbytes)
    return MailboxResult("jdoe@example.com", DONE, folders=[folder])


def copied_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith("Copied:"))


def test_the_speed_is_in_the_unit_the_amount_needs():
    # one message arrived since the last run: not "0.0 MB/s"
    assert copied_line(totals([copied(1, 300)], 0.2)) == \
        "  Copied: 1 (0.3 KB, 5 messages/s, 1.5 KB/s)"
    assert copied_line(totals([copied(5100, 470 * 2**20)], 2.0)) == \
        "  Copied: 5 100 (470.0 MB, 2550 messages/s, 235.0 MB/s)"


def test_nothing_copied_says_no_speed():
    assert copied_line(totals([copied(0, 0)], 0.3)) == "  Copied: 0 (0.0 KB)"


def test_the_admin_login_names_the_admin_in_quotes():
    pin = "SHA256:" + ":".join(["AB"] * 32)
    config = ServerConfig("mail.example.com", 993, "ssl", fingerprint=pin, auth="master",
                          master_user="admin", master_password="x", role="destination")
    assert describe_server(config) == (
        f'mail.example.com:993, SSL/TLS, certificate pinned to {pin}; logs in as the '
        'admin "admin" for each user (SASL PLAIN authorization identity)')
