"""The endpoint a second KIMT start uses to bring the first window forward, without a window.

A Unix socket on Linux and macOS; on Windows a loopback port and a token in
an owner-only file (tested here on every system: the release workflow runs
this file on Windows and macOS). The real two-process test is in
tests/gui/test_single_instance.py.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from kimt.system import RaiseEndpoint, SingleInstance, ask_to_raise

WINDOWS_SKIP = pytest.mark.skipif(sys.platform == "win32",
                                  reason="Unix sockets and POSIX modes: KIMT uses the port there")


@pytest.fixture
def private_folder(tmp_path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    return folder


@pytest.mark.parametrize("tcp", [
    pytest.param(False, id="unix-socket", marks=WINDOWS_SKIP),
    pytest.param(True, id="loopback-and-token")])
def test_the_endpoint_answers_only_a_request_with_its_token(private_folder, tcp):
    asked: list[str] = []
    endpoint = RaiseEndpoint(private_folder, lambda: asked.append("raise"), tcp=tcp)
    assert not ask_to_raise(private_folder, tcp=tcp, seconds=0.3)  # nobody listens yet
    endpoint.open()
    try:
        assert ask_to_raise(private_folder, tcp=tcp)
        assert ask_to_raise(private_folder, tcp=tcp)
        assert asked == ["raise", "raise"]
        if tcp:
            port_file = private_folder / "KIMT-window.port"
            if os.name == "posix":
                assert port_file.stat().st_mode & 0o777 == 0o600
            port, token = port_file.read_text().split()
            for wrong in (b"raise\n", b"raise " + b"0" * len(token) + b"\n", b"hello\n"):
                with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as conn:
                    conn.sendall(wrong)
                    assert conn.recv(16) == b""  # closed without an answer
            assert asked == ["raise", "raise"]
        else:
            sock = private_folder / "KIMT-window.sock"
            assert sock.stat().st_mode & 0o777 == 0o600
    finally:
        endpoint.close()
    assert not list(private_folder.iterdir())  # nothing left behind
    assert not ask_to_raise(private_folder, tcp=tcp, seconds=0.3)


@WINDOWS_SKIP
def test_the_endpoint_is_not_opened_nor_called_in_a_folder_others_can_enter(private_folder):
    private_folder.chmod(0o755)
    endpoint = RaiseEndpoint(private_folder, lambda: None, tcp=False)
    with pytest.raises(OSError, match="not this user's alone"):
        endpoint.open()
    assert not ask_to_raise(private_folder, tcp=False)
    instance = SingleInstance(private_folder)
    assert instance.acquire()
    try:
        assert not instance.listen(lambda: None)  # the wizard runs on; a second start asks
    finally:
        instance.release()


@WINDOWS_SKIP
def test_a_stale_socket_is_replaced(private_folder):
    (private_folder / "KIMT-window.sock").write_text("left by a crash")
    asked: list[bool] = []
    endpoint = RaiseEndpoint(private_folder, lambda: asked.append(True), tcp=False)
    endpoint.open()
    try:
        assert ask_to_raise(private_folder, tcp=False) and asked == [True]
    finally:
        endpoint.close()
