"""One KIMT window: a second start brings it to the front and exits; a killed one never blocks.

Real processes (`python -m kimt`) on the test's X server, with no window
manager: what the second start asked for is read from the X server itself
(the first window is mapped again, on top of the others, and has the input
focus). When the first KIMT can't answer, the second shows its message.
The endpoint itself is tested without a window in tests/test_endpoint.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tkinter as tk
from pathlib import Path

import pytest
from helpers import ROOT

from kimt.system import LOCK_NAME, SingleInstance

TITLE_PATTERN = "^KIMT .* mail migration$"  # xdotool's regex is not UTF-8 aware: not the dash


def start(env: dict, log: Path) -> subprocess.Popen:
    with open(log, "wb") as err:  # a file, read while the process runs
        proc = subprocess.Popen([sys.executable, "-m", "kimt"], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    proc.log = log
    return proc


def wait_line(proc: subprocess.Popen, text: str, timeout: float = 30) -> str:
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


def xdotool(env: dict, *args: str) -> list[str]:
    done = subprocess.run(["xdotool", *args], capture_output=True, text=True, env=env,
                          timeout=30)
    return done.stdout.split()


def wait_for(what: str, condition, timeout: float = 30, pump: tk.Misc | None = None) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        if pump is not None:
            pump.update()
        time.sleep(0.05)


@pytest.fixture
def kimt_env(home, x_display) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")


def test_second_start_brings_the_first_window_to_the_front(kimt_env, tmp_path):
    env = kimt_env
    first = start(env, tmp_path / "first.err")
    other = None
    try:
        wait_line(first, "KIMT started")
        found: list[str] = []
        wait_for("KIMT's window", lambda: found.extend(
            xdotool(env, "search", "--onlyvisible", "--name", TITLE_PATTERN)) or found)
        window = found[0]

        # The user works in another window over KIMT's, which they had minimised.
        other = tk.Tk()
        other.title("Another program")
        other.geometry("1200x880+0+0")
        wait_for("the other window", other.winfo_ismapped, pump=other)
        other_id = str(int(other.wm_frame(), 16))
        xdotool(env, "windowfocus", "--sync", other_id)
        xdotool(env, "windowunmap", "--sync", window)
        assert window not in xdotool(env, "search", "--onlyvisible", "--name", TITLE_PATTERN)
        assert xdotool(env, "getwindowfocus", "-f") == [other_id]

        started = time.monotonic()
        second = subprocess.run([sys.executable, "-m", "kimt"], env=env, capture_output=True,
                                text=True, timeout=60, stdin=subprocess.DEVNULL)
        took = time.monotonic() - started
        assert second.returncode == 0, second.stderr
        assert "KIMT is already running: its window is in front now." in second.stderr
        assert "Traceback" not in second.stderr
        print(f"\nsecond start answered and exited in {took:.2f} s")
        assert took < 15  # it waited for nobody: no message to dismiss
        assert not xdotool(env, "search", "--name", "KIMT is already running")

        def in_front() -> bool:
            # top-level windows bottom to top: the last one is on top of the others
            stack = xdotool(env, "search", "--onlyvisible", "--maxdepth", "1", "--name", ".")
            return (bool(stack) and stack[-1] == window
                    and xdotool(env, "getwindowfocus", "-f") == [window])

        wait_for("KIMT's window mapped, on top and focused", in_front, pump=other)
        assert first.poll() is None
    finally:
        if other is not None:
            other.destroy()
        stop(first)
    seen = first.log.read_text(errors="replace")
    assert "Traceback" not in seen, seen


def test_a_killed_first_does_not_block_and_its_endpoint_is_replaced(kimt_env, home, tmp_path):
    env = kimt_env
    first = start(env, tmp_path / "first.err")
    second = None
    try:
        wait_line(first, "KIMT started")
        folder = home / "runtime" / "KIMT"
        assert (folder / f"{LOCK_NAME}.lock").exists()
        assert (folder / "KIMT-window.sock").exists()
        first.send_signal(signal.SIGKILL)  # a crash: the lock file and the socket stay
        first.wait(10)
        second = start(env, tmp_path / "second.err")
        wait_line(second, "KIMT started")  # the OS released the lock with the process
        third = subprocess.run([sys.executable, "-m", "kimt"], env=env, capture_output=True,
                               text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert third.returncode == 0, third.stderr  # the new first answers on a new socket
        assert second.poll() is None
    finally:
        for proc in (first, second):
            if proc is not None:
                stop(proc)


def test_when_nobody_answers_the_message_is_shown(kimt_env, home, tmp_path):
    """A KIMT that holds the lock without listening (an old version, say): the message."""
    env = kimt_env
    folder = home / "runtime" / "KIMT"
    folder.mkdir(mode=0o700)
    holder = SingleInstance(folder)
    assert holder.acquire()
    second = None
    try:
        second = start(env, tmp_path / "second.err")
        wait_line(second, "KIMT is already running: switch to its window")
        window: list[str] = []
        wait_for("the 'already running' message", lambda: window.extend(
            xdotool(env, "search", "--name", "KIMT is already running")) or window)
        subprocess.run(["xdotool", "windowfocus", "--sync", window[0], "key", "Return"],
                       env=env, check=True, timeout=10)  # the user presses OK
        assert second.wait(10) == 1
    finally:
        holder.release()
        if second is not None:
            stop(second)
