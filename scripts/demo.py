"""A one-minute tour of KIMT: two local Dovecot servers, a sample mailbox, a real migration.

Run through ``scripts/demo`` (which installs what it needs). It starts an "old"
and a "new" server on 127.0.0.1, fills the old one with three users, runs
``kimt migrate`` twice (a message arrives on the old server in between: the
second run copies just that one) and ``kimt verify``, then stops both servers.
The migration journal stays in the demo's temporary folder. Add ``--keep`` to
leave the servers running and try your own commands against them.

With ``--gui`` it opens the desktop wizard on the same servers instead, as
someone who had used it before would find it: both servers filled in (the
settings the wizard remembers, in the demo's own folder: XDG_CONFIG_HOME),
the destination admin's password typed in (handed over in KIMT_TARGET_PASS,
which KIMT takes out of its environment at start; never on a command line),
and the demo's users file offered first by Load CSV. Its journal stays in
the demo's folder too (XDG_STATE_HOME). The servers run until the window is
closed, or Ctrl+C here.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(1, str(ROOT))

from dovecot import DEFAULT_SPECIAL_USE, Dovecot, make_message  # noqa: E402

from kimt.gui.settings import ServerSettings, Settings, save  # noqa: E402

USERS = [
    ("jan.novak@example.cz", "Demo-Jan-1!", "Jan Novák"),
    ("anna.kowalska@example.pl", "Demo-Anna-2!", "Anna Kowalska"),
    ("john.smith@example.com", "Demo-John-3!", "John Smith"),
]
FOLDERS = ["INBOX", "Sent Items", "Drafts", "Deleted Items", "Účty/Faktury 2023",
           "Projects/Website", "Tom & Jerry"]
OLD_SERVER = dict(separator=".", prefix="INBOX.")  # an old Courier-style layout
NEW_SERVER = dict(special_use=DEFAULT_SPECIAL_USE, auto_create_special=True)


def seed(old: Dovecot) -> int:
    rng = random.Random(7)
    total = 0
    for email, password, _ in USERS:
        old.add_user(email, password)
        for folder in FOLDERS[1:]:
            old.create_folder(email, folder)
        for folder in FOLDERS:
            count = rng.randint(10, 60)
            batch = []
            for i in range(count):
                size = rng.choice([800, 2_000, 6_000, 25_000, 120_000])
                flags = rng.choice([[], ["\\Seen"], ["\\Seen", "\\Answered"],
                                    ["\\Flagged", "$Label1"]])
                day = rng.randint(1, 28)
                batch.append((make_message(f"{folder} message {i}", size=size), flags,
                              f"{day:02d}-Jun-2023 09:{i % 60:02d}:00 +0200"))
            old.append_many(email, folder, batch)
            total += count
    return total


def write_users(work: Path) -> Path:
    users = work / "users.csv"
    users.write_text("".join(f"{e};{p};{name}\n" for e, p, name in USERS), encoding="utf-8")
    return users


def kimt(*args: str) -> int:
    print(f"\n$ kimt {' '.join(args)}", flush=True)
    return subprocess.call([sys.executable, "-m", "kimt", *args], cwd=ROOT)


def migrate_on_the_command_line(work: Path, old: Dovecot, new: Dovecot, users: Path) -> int:
    admin = work / "admin.pass"
    admin.write_text(new.master_password + "\n")
    os.chmod(admin, 0o600)
    common = ["--users", str(users),
              "--source-host", f"127.0.0.1:{old.ssl_port}", "--source-security", "ssl",
              "--source-fingerprint", old.fingerprint,
              "--target-host", f"127.0.0.1:{new.port}", "--target-security", "starttls",
              "--target-fingerprint", new.fingerprint,
              "--target-auth", "master", "--target-user", new.master_user,
              "--target-pass-file", str(admin), "--log-dir", str(work / "logs"),
              "--state-dir", str(work / "state")]
    print(f"\nUsers file {users}:\n" + users.read_text(encoding="utf-8"))
    rc1 = kimt("migrate", *common)
    email = USERS[0][0]
    old.append(email, "INBOX", make_message("Arrived after the cut-over"))
    print(f"\nA message arrives on the old server for {email}. Running the same command "
          "again (Finish migration)\ncopies just that one, nothing twice:")
    rc2 = kimt("migrate", *common, "--quiet")
    rc3 = kimt("verify", *common, "--quiet")
    print(f"\nExit codes: migrate {rc1}, re-run {rc2}, verify {rc3} (0 = complete).")
    print(f"Logs are in {work / 'logs'}")
    return max(rc1, rc2, rc3)


# -- the wizard -------------------------------------------------------------------------

def wizard_settings(old: Dovecot, new: Dovecot, users: Path) -> Settings:
    """What the wizard remembers after a first visit to these servers (never a password)."""
    return Settings(
        source=ServerSettings(host=f"127.0.0.1:{old.ssl_port}", security="ssl",
                              fingerprint=old.fingerprint, kind="user"),
        destination=ServerSettings(host=f"127.0.0.1:{new.port}", security="starttls",
                              fingerprint=new.fingerprint, kind="master",
                              admin_user=new.master_user),
        csv_folder=str(users.parent), csv_file=str(users))


def wizard_environment(work: Path, old: Dovecot, new: Dovecot, users: Path) -> dict[str, str]:
    """The wizard's environment: its settings (written here) and journal in `work`, and
    the destination admin's password, which KIMT takes out of it at start."""
    config = work / "config"
    # where platformdirs puts KIMT's settings.json under this XDG_CONFIG_HOME
    save(wizard_settings(old, new, users), config / "KIMT" / "settings.json")
    return dict(os.environ, XDG_CONFIG_HOME=str(config), XDG_STATE_HOME=str(work / "state"),
                KIMT_TARGET_PASS=new.master_password)


def start_wizard(env: dict[str, str]) -> subprocess.Popen:
    """`kimt` in its window. Ctrl+C in this terminal is the demo's to handle: the child
    inherits SIGINT ignored (Python keeps it so), and the demo closes it."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.Popen([sys.executable, "-m", "kimt"], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL)
    finally:
        signal.signal(signal.SIGINT, previous)


def show_in_the_wizard(work: Path, old: Dovecot, new: Dovecot, users: Path) -> int:
    print(f"\nUsers file {users}:\n" + users.read_text(encoding="utf-8"))
    print("Opening the wizard: both servers and the new server's admin password are filled "
          "in;\non the Users page, Load CSV… offers the users file above. Close the window "
          "(or press Ctrl+C here) to stop the servers.", flush=True)
    wizard = start_wizard(wizard_environment(work, old, new, users))
    try:
        return wizard.wait()
    except KeyboardInterrupt:
        wizard.terminate()
        wizard.wait(20)
        return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gui", action="store_true",
                    help="open the desktop wizard on the two servers instead of the command line")
    ap.add_argument("--keep", action="store_true", help="leave the servers running at the end")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kimt-demo-"))
    old = Dovecot(**OLD_SERVER)
    new = Dovecot(**NEW_SERVER)
    old.start()
    new.start()
    try:
        print(f"Old server: 127.0.0.1:{old.port} (plain), 127.0.0.1:{old.ssl_port} (SSL/TLS)")
        print(f"New server: 127.0.0.1:{new.port} (plain, STARTTLS), admin user "
              f"'{new.master_user}'")
        for email, _, _ in USERS:
            new.add_user(email, "not-needed-master-login")
        t = time.monotonic()
        n = seed(old)
        print(f"Filled the old server with {n} messages for {len(USERS)} users "
              f"in {time.monotonic() - t:.1f} s.")
        users = write_users(work)
        if a.gui:
            rc = show_in_the_wizard(work, old, new, users)
        else:
            rc = migrate_on_the_command_line(work, old, new, users)
        if a.keep:
            print("Servers keep running; Ctrl+C stops them.")
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return rc
    finally:
        old.stop()
        new.stop()


if __name__ == "__main__":
    raise SystemExit(main())
