"""What the wizard remembers between starts: server names and choices, never a password.

A JSON file in the user's config folder (platformdirs). Only the fields named
in `Settings` are written, so a password can't slip in by accident; a missing
or damaged file just means the defaults.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import platformdirs

log = logging.getLogger("kimt.gui.settings")


@dataclass
class ServerSettings:
    host: str = ""
    security: str = "ssl"
    login_name: str = "email"  # what users log in with: full address or the part before @
    # how KIMT logs in: "user" (own passwords), "master" (an admin for each user),
    # "xoauth2" (access tokens); on the destination also "kerio" (Kerio Connect)
    kind: str = "user"
    admin_user: str = ""
    master_style: str = "authzid"
    master_separator: str = "*"
    oauth_token_command: str = ""  # a command line, not a token
    fingerprint: str = ""  # a certificate the admin chose to trust (public, not a secret)
    kerio_api: str = ""  # Kerio's admin API host[:port]; empty: the server's host, port 4040
    kerio_user: str = ""
    kerio_write: str = "master"  # "master": X-MASTERAUTH; "user": each user's own login
    generate_passwords: bool = False
    kerio_fingerprint: str = ""  # the admin API's trusted certificate
    preset: str = "generic"  # the "Server kind": a name of core.presets.PRESETS


@dataclass
class Settings:
    source: ServerSettings = field(default_factory=ServerSettings)
    destination: ServerSettings = field(default_factory=lambda: ServerSettings(kind="master"))
    csv_folder: str = ""
    csv_file: str = ""  # the users file loaded last: Load CSV offers it first (a path only)
    workers: int = 4
    geometry: str = ""
    source_kind: str = "imap"  # or "webstar": 4D WebSTAR on this computer
    webstar_folder: str = ""  # where its configuration was read last
    # "Advanced: folders", as typed: patterns to leave out, to copy only, SOURCE=DEST lines
    exclude_folders: list[str] = field(default_factory=list)
    include_folders: list[str] = field(default_factory=list)
    map_folders: list[str] = field(default_factory=list)
    public_into: str = ""  # the mailbox the source's public folders go into ("": left out)
    post_migrate_script: str = ""  # a program's path (the users page's run options)
    post_migrate_minutes: int = 10  # its time limit

    @classmethod
    def from_dict(cls, data: dict) -> Settings:
        def server(d: object, default: ServerSettings) -> ServerSettings:
            if not isinstance(d, dict):
                return default
            kept: dict[str, object] = {}
            for f in fields(ServerSettings):
                value = d.get(f.name)
                wanted = type(getattr(default, f.name))
                if isinstance(value, wanted):
                    kept[f.name] = value
            return replace(default, **kept)

        s = cls()
        s.source = server(data.get("source"), s.source)
        # "target" is what settings files written before 0.2 call it
        s.destination = server(data.get("destination", data.get("target")), s.destination)
        s.csv_folder = str(data.get("csv_folder", ""))
        s.csv_file = str(data.get("csv_file", ""))
        workers = data.get("workers", 4)
        s.workers = workers if isinstance(workers, int) and 1 <= workers <= 32 else 4
        s.geometry = str(data.get("geometry", ""))
        kind = data.get("source_kind")
        s.source_kind = kind if kind in ("imap", "webstar") else "imap"
        s.webstar_folder = str(data.get("webstar_folder", ""))
        for name in ("exclude_folders", "include_folders", "map_folders"):
            value = data.get(name)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                setattr(s, name, list(value))
        s.public_into = str(data.get("public_into", ""))
        s.post_migrate_script = str(data.get("post_migrate_script", ""))
        minutes = data.get("post_migrate_minutes", 10)
        s.post_migrate_minutes = minutes if isinstance(minutes, int) and 1 <= minutes <= 1440 \
            else 10
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
