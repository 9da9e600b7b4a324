"""The engine: everything KIMT does, without a user interface.

Nothing below this package imports tkinter. `kimt.cli` and `kimt.gui`
drive `Engine` and render its `events`.
"""

from .engine import Engine, RunRequest
from .errors import (
    CertificateError,
    ConnectError,
    CsvError,
    InputError,
    KimtError,
    LoginError,
    ProtocolError,
    ServerError,
    SettingsError,
    StoppedError,
)
from .mailbox import JobSettings
from .servers import ServerConfig

__all__ = [
    "CertificateError", "ConnectError", "CsvError", "Engine", "InputError", "JobSettings",
    "KimtError", "LoginError", "ProtocolError", "RunRequest", "ServerConfig", "ServerError",
    "SettingsError", "StoppedError",
]
