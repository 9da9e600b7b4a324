"""Shared helpers for the integration tests: run `kimt` as a real process, compare servers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from dovecot import Dovecot

ROOT = Path(__file__).resolve().parent.parent
ADMIN_PASSWORD = "adminpass"  # the rig's master password
USER, PASSWORD = "jdoe@example.com", "Src-Secret-7x!"  # the `pair` fixture's user


def write_csv(path: Path, rows: list[tuple[str, ...]], encoding: str = "utf-8") -> Path:
    path.write_bytes("".join(";".join(r) + "\r\n" for r in rows).encode(encoding))
    return path


def kimt(*args: str, timeout: float = 300, env: dict | None = None,
         check_rc: int | None = None) -> subprocess.CompletedProcess:
    """Run `python -m kimt ARGS` as a separate process, like an admin would."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    full_env.pop("KIMT_TARGET_PASS", None)
    full_env.pop("KIMT_SOURCE_PASS", None)
    if env:
        full_env.update(env)
    proc = subprocess.run([sys.executable, "-m", "kimt", *args], capture_output=True,
                          text=True, timeout=timeout, env=full_env, stdin=subprocess.DEVNULL)
    if check_rc is not None and proc.returncode != check_rc:
        raise AssertionError(f"kimt {' '.join(args)} exited {proc.returncode}, "
                             f"expected {check_rc}\n--- stdout\n{proc.stdout}\n"
                             f"--- stderr\n{proc.stderr}")
    return proc


def migrate_args(src: Dovecot, dst: Dovecot, users: Path, log_dir: Path, *extra: str,
                 command: str = "migrate", pass_file: Path | None = None) -> list[str]:
    """Plain IMAP on both sides; the destination through its master user."""
    if pass_file is None:
        pass_file = log_dir / "admin.pass"
        log_dir.mkdir(parents=True, exist_ok=True)
        pass_file.write_text(ADMIN_PASSWORD + "\n")
    return [command, "--users", str(users),
            "--source-host", f"{src.host}:{src.port}", "--source-security", "none",
            "--target-host", dst.host, "--target-port", str(dst.port),
            "--target-security", "none",
            "--target-auth", "master", "--target-user", "admin",
            "--target-pass-file", str(pass_file),
            "--log-dir", str(log_dir), *extra]


def run_dir_of(proc: subprocess.CompletedProcess | str) -> Path:
    """The run's log folder, from the "Report log: PATH" line kimt printed."""
    text = proc if isinstance(proc, str) else proc.stdout + "\n" + proc.stderr
    for line in text.splitlines():
        if line.startswith("Report log:"):
            return Path(line.split(":", 1)[1].strip()).parent
    raise AssertionError(f"no Report log path printed\n{text}")


def report_of(proc: subprocess.CompletedProcess | str) -> str:
    return (run_dir_of(proc) / "report.log").read_text(encoding="utf-8")


def worker_peaks_mb(proc: subprocess.CompletedProcess | str) -> list[int]:
    """The peak memory each worker logged in the Debug log ("worker peak memory N MB")."""
    debug = (run_dir_of(proc) / "debug.log").read_text(encoding="utf-8")
    return [int(x) for x in re.findall(r"worker peak memory (\d+) MB", debug)]


def mailbox_content(server: Dovecot, user: str, rename: dict[str, str] | None = None,
                    ) -> dict[str, Counter]:
    """{logical folder: Counter of (sha256, flags, internaldate)} of every selectable folder."""
    rename = rename or {}
    out: dict[str, Counter] = {}
    for name, info in server.folders(user).items():
        low = {f.lower() for f in info["flags"]}
        if "\\noselect" in low or "\\nonexistent" in low:
            continue
        if server.public_prefix and name.startswith(server.public_prefix[:-1]):
            continue
        key = rename.get(name, name)
        out.setdefault(key, Counter())
        for m in server.messages(user, name):
            out[key][(m["sha256"], tuple(m["flags"]), m["internaldate"])] += 1
    return out


def assert_same_mail(src: Dovecot, dst: Dovecot, user: str,
                     rename: dict[str, str] | None = None, dst_user: str | None = None) -> None:
    """Every source folder is on the destination with exactly the same messages."""
    source = mailbox_content(src, user, rename)
    target = mailbox_content(dst, dst_user or user)
    for folder, messages in source.items():
        assert folder in target, f"folder {folder!r} missing on the destination"
        assert target[folder] == messages, (
            f"{folder!r}: missing {list((messages - target[folder]).elements())[:3]}, "
            f"extra {list((target[folder] - messages).elements())[:3]}")


# --------------------------------------------------------------- processes (Linux /proc)

def descendants(pid: int) -> set[int]:
    """Every process below `pid` (its workers, their helpers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        kids = {c for c, parent in parents.items() if parent == p}
        todo += list(kids - found)
        found |= kids
    return found


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# --------------------------------------------------------------- changing a mailbox

def store_flags(server: Dovecot, user: str, folder: str, uids: list[int], flags: str,
                op: str = "+FLAGS") -> None:
    """`UID STORE uids op (flags)` on one folder, as a mail client would."""
    m = server.connect(user)
    try:
        assert m.select(f'"{server.server_name(folder)}"')[0] == "OK"
        for start in range(0, len(uids), 200):
            part = ",".join(str(u) for u in uids[start:start + 200])
            typ, data = m.uid("STORE", part, op, f"({flags})")
            assert typ == "OK", data
    finally:
        m.logout()


def expunge(server: Dovecot, user: str, folder: str, uids: list[int]) -> None:
    """Delete these messages for good (\\Deleted + UID EXPUNGE)."""
    store_flags(server, user, folder, uids, "\\Deleted")
    m = server.connect(user)
    try:
        assert m.select(f'"{server.server_name(folder)}"')[0] == "OK"
        typ, data = m.uid("EXPUNGE", ",".join(str(u) for u in uids))
        assert typ == "OK", data
    finally:
        m.logout()
