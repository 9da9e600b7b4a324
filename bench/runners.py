"""How each tool of the W1–W4 benchmark is run: its command line and its files.

A ``Runner`` turns a ``Setup`` (where the tool reaches the two servers, the users,
a scratch folder of its own) into one argv; the benchmark runs that argv twice, a
first run and a re-run, and the scratch folder (KIMT's journal, mbsync's sync
state) is kept between the two, as a user's would be.  Each tool logs in with the
servers' master login, so no user password is needed:

- kimt:   ``python -m kimt migrate`` as installed, SASL PLAIN authzid master login
          on both sides, ``--workers`` mailboxes side by side.
- mbsync: one channel per user (Sync Pull, Create Near, CopyArrivalDate yes, login
          "user*admin"), ``jobs`` mbsync processes side by side, each taking the
          next channel (``xargs -P``) - the usual way to run it for many users.
- dsync:  Dovecot's own migration, ``doveadm backup -R`` reading the source through
          imapc and writing straight into the destination's storage (so only the
          source side crosses the link); the server-side reference.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Setup:
    """Everything a tool needs for one measured migration."""

    users: list[str]
    source_port: int  # where the tool reaches the source (a latency proxy, or direct)
    destination_port: int
    destination_conf: Path  # the destination Dovecot's configuration (dsync writes there)
    master: tuple[str, str]  # the master login both servers accept
    work: Path  # this tool's scratch folder, kept between first run and re-run
    host: str = "127.0.0.1"


class Runner:
    """A tool: ``missing()`` says why it can't run here (or None), ``command()`` how."""

    name = ""

    def missing(self) -> str | None:
        return None

    def command(self, s: Setup) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        """The environment to run in (None: this process's)."""
        return None


class Kimt(Runner):
    name = "kimt"

    def __init__(self, workers: int, extra_args: list[str] | None = None,
                 root: Path | None = None, python: str = sys.executable):
        """root: a folder holding the kimt package to run instead of the installed one
        (e.g. ``git archive HEAD kimt | tar -x -C DIR`` while the checkout is mid-edit)."""
        self.workers, self.python, self.root = workers, python, root
        self.extra_args = list(extra_args or [])

    def env(self) -> dict[str, str] | None:
        if self.root is None:
            return None
        return dict(os.environ, PYTHONPATH=str(self.root))

    def package(self) -> Path | None:
        """The folder of the kimt package this runner runs, or None if none imports."""
        p = subprocess.run([self.python, "-c", "import kimt; print(kimt.__file__)"],
                           capture_output=True, text=True, env=self.env(), cwd="/")
        return Path(p.stdout.strip()).parent if p.returncode == 0 else None

    def command(self, s: Setup) -> list[str]:
        users_csv = s.work / "users.csv"
        users_csv.write_text("".join(f"{u};unused;\n" for u in s.users), encoding="utf-8")
        secret = s.work / "admin.pass"
        secret.write_text(s.master[1] + "\n")
        sides = []
        for side, port in (("source", s.source_port), ("target", s.destination_port)):
            sides += [f"--{side}-host", s.host, f"--{side}-port", str(port),
                      f"--{side}-security", "none", f"--{side}-auth", "master",
                      f"--{side}-user", s.master[0], f"--{side}-pass-file", str(secret)]
        return [self.python, "-m", "kimt", "migrate", "--users", str(users_csv), *sides,
                "--workers", str(self.workers), "--state-dir", str(s.work / "state"),
                "--log-dir", str(s.work / "logs"), "--quiet", *self.extra_args]


class Mbsync(Runner):
    name = "mbsync"

    def __init__(self, jobs: int = 2):
        self.jobs = jobs

    def missing(self) -> str | None:
        if shutil.which("mbsync") is None:
            return "mbsync is not installed (apt-get install isync)"
        return None

    def command(self, s: Setup) -> list[str]:
        (s.work / "state").mkdir(exist_ok=True)
        lines = [f"SyncState {s.work / 'state'}/", "FSync no", ""]
        channels = []
        for user in s.users:
            ch = "".join(c if c.isalnum() else "-" for c in user)
            channels.append(ch)
            for side, port in (("far", s.source_port), ("near", s.destination_port)):
                lines += [f"IMAPAccount {side}-{ch}", f"Host {s.host}", f"Port {port}",
                          f"User {user}*{s.master[0]}", f"Pass {s.master[1]}",
                          "SSLType None", "AuthMechs PLAIN", "",
                          f"IMAPStore {side}-{ch}", f"Account {side}-{ch}", ""]
            lines += [f"Channel {ch}", f"Far :far-{ch}:", f"Near :near-{ch}:",
                      "Patterns INBOX *", "Create Near", "Remove None", "Expunge None",
                      "Sync Pull", "CopyArrivalDate yes", ""]
        rc = s.work / "mbsyncrc"
        rc.write_text("\n".join(lines), encoding="utf-8")
        todo = s.work / "channels"
        todo.write_text("".join(ch + "\n" for ch in channels))
        return ["xargs", "-a", str(todo), "-P", str(self.jobs), "-n", "1",
                "mbsync", "-q", "-c", str(rc)]


class Dsync(Runner):
    name = "dsync"

    def __init__(self, jobs: int = 2):
        self.jobs = jobs

    def missing(self) -> str | None:
        if shutil.which("doveadm") is None:
            return "doveadm is not installed (apt-get install dovecot-core)"
        return None

    def command(self, s: Setup) -> list[str]:
        todo = s.work / "users"
        todo.write_text("".join(u + "\n" for u in s.users))
        doveadm = ["doveadm", "-c", str(s.destination_conf),
                   "-o", f"imapc_host={s.host}", "-o", f"imapc_port={s.source_port}",
                   "-o", f"imapc_master_user={s.master[0]}",
                   "-o", f"imapc_password={s.master[1]}",
                   "-o", "imapc_features=rfc822.size fetch-headers",
                   "backup", "-R", "-u", "{}", "imapc:"]
        return ["xargs", "-a", str(todo), "-P", str(self.jobs), "-I{}", *doveadm]
