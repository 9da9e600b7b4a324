"""Where logs go on each system."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

from kimt.platform import paths


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
