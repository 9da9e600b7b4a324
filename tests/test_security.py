"""Secrets and privacy (issue 6, security checks).

No password — source, destination, admin — appears in the Report log, the
Debug log, the console, an error text, or the command line or environment
of any process of a running migration (the main process and its workers);
both logs are readable by their owner only; the Debug log holds no message
body. (Generated passwords arrive with destination provisioning; the
Redactor that masks them is the same.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from dovecot import make_message
from faultproxy import UP, Fault, FaultProxy
from helpers import ROOT, descendants, migrate_args, run_dir_of, write_csv

USER, SRC_PASS, DST_PASS = "jdoe@example.com", "Src-Pw-1q2w3e", "Dst-Pw-4r5t6y"
USER2, WRONG_PASS = "anna@example.com", "Wrong-Pw-7u8i9o"
ADMIN_PASS = "Admin-Pw-0p9o8i"
BODY_MARKERS = ("BODY-MARKER-7f3a", "QVRUQUNITUVOVC1NQVJLRVI=")  # text, base64 attachment


def test_no_secret_anywhere_and_private_logs(dovecot_factory, tmp_path):
    src = dovecot_factory()
    dst = dovecot_factory(master_password=ADMIN_PASS)
    src.add_user(USER, SRC_PASS)
    src.add_user(USER2, "the-real-one")
    for user in (USER, USER2):
        dst.add_user(user, "x")
    body = (f"{BODY_MARKERS[0]}\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{BODY_MARKERS[1]}\r\n--b--\r\n")
    src.append_many(USER, "INBOX", [make_message(f"m{i}", body=body * 20) for i in range(200)])
    users = write_csv(tmp_path / "users.csv", [(USER, SRC_PASS, "John", DST_PASS),
                                               (USER2, WRONG_PASS, "Anna")])
    secrets = (SRC_PASS, DST_PASS, WRONG_PASS, ADMIN_PASS)
    proxy = FaultProxy(dst.port)
    fault = proxy.arm(Fault("stall", UP, after=20_000, trigger=b"APPEND"))
    args = migrate_args(src, dst, users, tmp_path / "logs", "--batch-mb", "0.05")
    i = args.index("--target-pass-file")
    del args[i:i + 2]  # the admin password comes from the environment this time
    args[args.index("--target-port") + 1] = str(proxy.port)
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1",
               KIMT_TARGET_PASS=ADMIN_PASS)
    proc = subprocess.Popen([sys.executable, "-m", "kimt", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env,
                            stdin=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 60
        while not proxy.stalls and time.monotonic() < end:
            time.sleep(0.05)
        assert fault.fired == 1 and proxy.stalls, "the migration is running"
        workers = descendants(proc.pid)
        assert workers, "worker processes are running"
        for pid in workers:  # the main process was started with the secret in its env
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
            for secret in secrets:
                assert secret not in cmdline and secret not in environ, (pid, secret)
        main_cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode(errors="replace")
        every_cmdline = ""  # what `ps` shows any user of this computer
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    every_cmdline += (entry / "cmdline").read_bytes().decode(errors="replace")
                except OSError:
                    pass
        for secret in secrets:
            assert secret not in main_cmdline and secret not in every_cmdline, secret
    finally:
        proxy.release()
        try:
            out, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
            proxy.close()
    assert proc.returncode == 1, out  # anna's login fails
    assert f"login failed for {USER2} on {src.host}" in out
    run = run_dir_of(SimpleProc(out))
    assert run.stat().st_mode & 0o077 == 0
    for name in ("report.log", "debug.log"):
        path = run / name
        assert path.stat().st_mode & 0o777 == 0o600, name
        text = path.read_text(encoding="utf-8")
        for secret in secrets:
            assert secret not in text, (name, secret)
    debug = (run / "debug.log").read_text(encoding="utf-8")
    assert "APPEND" in debug and "UID FETCH BODY.PEEK[]" in debug  # a real trace ...
    for marker in BODY_MARKERS:  # ... without message contents
        assert marker not in debug, marker
    for secret in secrets:
        assert secret not in out, secret


class SimpleProc:
    def __init__(self, out: str):
        self.stdout, self.stderr = out, ""
