"""What the wizard remembers between starts: server names and choices, never a password.

A JSON file in the user's config folder (platformdirs). Only the fields named
in `Settings` are written, so a password can't slip in by accident; a missing
or damaged file just means the defaults.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import platformdirs

log = logging.getLogger("kimt.gui.settings")


@dataclass
class ServerSettings:
    host: str = ""
    security: str = "ssl"
    login_name: str = "email"  # source: what users log in with
    kind: str = "user"  # "user": per-user passwords; "master": an admin logs in for each user
    admin_user: str = ""
    master_style: str = "authzid"
    fingerprint: str = ""  # a certificate the admin chose to trust (public, not a secret)


@dataclass
class Settings:
    source: ServerSettings = field(default_factory=ServerSettings)
    target: ServerSettings = field(default_factory=lambda: ServerSettings(kind="master"))
    csv_folder: str = ""
    workers: int = 4
    geometry: str = ""

    @classmethod
    def from_dict(cls, data: dict) -> Settings:
        def server(d: object, default: ServerSettings) -> ServerSettings:
            if not isinstance(d, dict):
                return default
            known = {f.name: f.type for f in fields(ServerSettings)}
            return ServerSettings(**{k: str(v) for k, v in d.items() if k in known})

        s = cls()
        s.source = server(data.get("source"), s.source)
        s.target = server(data.get("target"), s.target)
        s.csv_folder = str(data.get("csv_folder", ""))
        workers = data.get("workers", 4)
        s.workers = workers if isinstance(workers, int) and 1 <= workers <= 32 else 4
        s.geometry = str(data.get("geometry", ""))
        return s


def settings_path() -> Path:
    return Path(platformdirs.user_config_dir("KIMT", appauthor=False)) / "settings.json"


def load(path: Path | None = None) -> Settings:
    path = path or settings_path()
    try:
        return Settings.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError, TypeError) as e:
        log.warning("ignoring the settings file %s: %s", path, e)
        return Settings()


def save(settings: Settings, path: Path | None = None) -> None:
    path = path or settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(settings), indent=2), encoding="utf-8")
        tmp.replace(path)
    except OSError as e:  # remembering is a convenience: never stop the wizard for it
        log.warning("could not save the settings to %s: %s", path, e)
