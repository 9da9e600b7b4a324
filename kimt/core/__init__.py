"""The engine: everything KIMT does, without a user interface.

Nothing below this package imports tkinter. `kimt.cli` and `kimt.gui`
drive `Engine` and render its `events`. The names below are re-exported
lazily (PEP 562): importing `kimt.core.events`, plain records, must not load
the IMAP library or the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "Engine": "engine", "RunRequest": "engine", "JobSettings": "mailbox",
    "ServerConfig": "servers",
    **{name: "errors" for name in (
        "CertificateError", "ConnectError", "CsvError", "InputError", "KimtError",
        "LoginError", "ProtocolError", "ServerError", "SettingsError", "StoppedError")},
}

__all__ = [
    "CertificateError", "ConnectError", "CsvError", "Engine", "InputError", "JobSettings",
    "KimtError", "LoginError", "ProtocolError", "RunRequest", "ServerConfig", "ServerError",
    "SettingsError", "StoppedError",
]

if TYPE_CHECKING:
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


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
