"""Where logs go on each system."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

from kimt.system import paths


def test_log_base_per_system(monkeypatch, tmp_path):
    monkeypatch.setattr(paths.Path, "home", staticmethod(lambda: tmp_path))
    monkeypatch.setattr(sys, "platform", "linux")
    assert paths.default_log_base() == tmp_path / "KimtLogs"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert paths.default_log_base() == tmp_path / "Library" / "Logs" / "KimtLogs"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(paths.tempfile, "gettempdir", lambda: str(tmp_path / "Temp"))
    assert paths.default_log_base() == tmp_path / "Temp" / "KimtLogs"


def test_run_dirs_are_new_private_and_named_by_time(tmp_path):
    first = paths.new_run_dir(tmp_path)
    second = paths.new_run_dir(tmp_path)
    assert first != second and first.parent == second.parent == Path(tmp_path)
    assert len(first.name) == 15 and first.name[:8].isdigit() and first.name[8] == "_"
    if sys.platform != "win32":  # Windows has no mode bits; %TEMP% is per-user there
        assert stat.S_IMODE(first.stat().st_mode) == 0o700


def test_programs_started_by_a_frozen_kimt_get_the_users_library_path(monkeypatch):
    from kimt.system import environ_for_programs

    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/kimt/_internal")
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/usr/local/lib")
    monkeypatch.setenv("_PYI_ARCHIVE_FILE", "/opt/kimt/kimt")
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert environ_for_programs()["LD_LIBRARY_PATH"] == "/opt/kimt/_internal"  # not frozen

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    env = environ_for_programs({"KIMT_OAUTH_SIDE": "source"})
    assert env["LD_LIBRARY_PATH"] == "/usr/local/lib" and "LD_LIBRARY_PATH_ORIG" not in env
    assert "_PYI_ARCHIVE_FILE" not in env and env["PYINSTALLER_RESET_ENVIRONMENT"] == "1"
    assert env["KIMT_OAUTH_SIDE"] == "source"
    monkeypatch.delenv("LD_LIBRARY_PATH_ORIG")
    assert "LD_LIBRARY_PATH" not in environ_for_programs()  # the user had none

