"""Every error KIMT raises on purpose, in one place.

    KimtError                 base: its text is shown to the administrator as is
    ├── InputError            the user's input is wrong; nothing was contacted
    │   ├── CsvError          the users file as a whole can't be read
    │   └── SettingsError     a command-line option or setting is invalid
    ├── ConnectError          a server can't be reached (DNS, refused, timeout)
    │   └── CertificateError  TLS certificate refused; carries its fingerprint
    ├── LoginError            a server refused the login of one account
    ├── ServerError           a server answered NO/BAD to a command we need
    │   └── ProtocolError     a server answered something we can't parse
    └── StoppedError          the user asked to stop

Texts never contain a password: the places that build them receive
passwords only as opaque values and never format them.
"""

from __future__ import annotations


class KimtError(Exception):
    """Base of every deliberate KIMT error; str() is a sentence for the admin."""


class InputError(KimtError):
    """Input supplied by the user is unusable (file, option, value)."""


class CsvError(InputError):
    """The users file can't be read at all (missing, unreadable, no rows)."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        where = ""
        if path:
            where = f"{path}" + (f", line {line}" if line else "") + ": "
        super().__init__(where + message)
        self.path = path
        self.line = line


class SettingsError(InputError):
    """A command-line option or setting is invalid."""


class ConnectError(KimtError):
    """A server could not be reached, or the connection broke."""


class CertificateError(ConnectError):
    """The server's TLS certificate was refused; `fingerprint` is what it showed, `problem`
    what is wrong with it ("it is a self-signed certificate, …"), for a sentence of its own."""

    def __init__(self, message: str, fingerprint: str | None = None, problem: str = ""):
        super().__init__(message)
        self.fingerprint = fingerprint
        self.problem = problem


class LoginError(KimtError):
    """A server refused a login (wrong password, unknown user, no master rights).

    `code` is the server's RFC 5530 response code, upper case, when it gave one:
    AUTHENTICATIONFAILED (the name or password is wrong) and AUTHORIZATIONFAILED
    (they are right, but may not act for that user: an unknown user) tell an
    admin login's two halves apart.
    """

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code


class ServerError(KimtError):
    """A server refused a command KIMT needs."""


class ProtocolError(ServerError):
    """A server sent a response KIMT can't understand."""


class StoppedError(KimtError):
    """The user asked KIMT to stop."""
