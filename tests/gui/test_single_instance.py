"""Only one KIMT window: a second start is refused with a message; a killed one doesn't block."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ROOT

from kimt.platform import LOCK_NAME


def start(env: dict, log: Path) -> subprocess.Popen:
    with open(log, "wb") as err:  # a file, read while the process runs
        proc = subprocess.Popen([sys.executable, "-m", "kimt"], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    proc.log = log
    return proc


def wait_line(proc: subprocess.Popen, text: str, timeout: float = 20) -> str:
    """Wait until the process has written `text` to stderr (it keeps running)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        seen = proc.log.read_text(errors="replace")
        if text in seen:
            return seen
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    seen = proc.log.read_text(errors="replace")
    raise AssertionError(f"no {text!r} from kimt (exit {proc.poll()}); stderr:\n{seen}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_second_start_is_refused_and_a_killed_one_does_not_block(home, x_display, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    first = start(env, tmp_path / "first.err")
    second = third = None
    try:
        wait_line(first, "KIMT started")
        assert (home / "runtime" / "KIMT" / f"{LOCK_NAME}.lock").exists()
        second = start(env, tmp_path / "second.err")
        wait_line(second, "KIMT is already running")
        if shutil.which("xdotool"):  # the user presses OK on the message
            window = ""
            end = time.monotonic() + 10
            while not window and time.monotonic() < end:
                window = subprocess.run(
                    ["xdotool", "search", "--name", "KIMT is already running"],
                    capture_output=True, text=True, env=env).stdout.split()
                window = window[0] if window else ""
                time.sleep(0.1)
            assert window, "the 'already running' message window did not appear"
            subprocess.run(["xdotool", "windowfocus", "--sync", window, "key", "Return"],
                           env=env, check=True, timeout=10)
            assert second.wait(10) == 1
        else:
            pytest.fail("xdotool is needed to answer the message (apt-get install xdotool)")
        assert first.poll() is None  # the first one is untouched

        first.send_signal(signal.SIGKILL)  # a crash: the lock file stays behind
        first.wait(10)
        third = start(env, tmp_path / "third.err")
        wait_line(third, "KIMT started")  # the OS released the lock with the process
        assert third.poll() is None
    finally:
        for proc in (first, second, third):
            if proc is not None:
                stop(proc)
