"""A one-minute tour of KIMT: two local Dovecot servers, a sample mailbox, a real migration.

Run through ``scripts/demo`` (which installs what it needs). It starts an "old"
and a "new" server on 127.0.0.1, fills the old one with three users, runs
``kimt migrate`` twice (a message arrives on the old server in between: the
second run copies just that one) and ``kimt verify``, then stops both servers.
The migration journal stays in the demo's temporary folder. Add ``--keep`` to
leave the servers running and try your own commands against them.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from dovecot import DEFAULT_SPECIAL_USE, Dovecot, make_message  # noqa: E402

USERS = [
    ("jan.novak@example.cz", "Demo-Jan-1!", "Jan Novák"),
    ("anna.kowalska@example.pl", "Demo-Anna-2!", "Anna Kowalska"),
    ("john.smith@example.com", "Demo-John-3!", "John Smith"),
]
FOLDERS = ["INBOX", "Sent Items", "Drafts", "Deleted Items", "Účty/Faktury 2023",
           "Projects/Website", "Tom & Jerry"]


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


def kimt(*args: str) -> int:
    print(f"\n$ kimt {' '.join(args)}", flush=True)
    return subprocess.call([sys.executable, "-m", "kimt", *args], cwd=ROOT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", action="store_true", help="leave the servers running at the end")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kimt-demo-"))
    old = Dovecot(separator=".", prefix="INBOX.")  # an old Courier-style layout
    new = Dovecot(special_use=DEFAULT_SPECIAL_USE, auto_create_special=True)
    old.start()
    new.start()
    try:
        print(f"Old server: 127.0.0.1:{old.port} (plain), 127.0.0.1:{old.ssl_port} (SSL/TLS)")
        print(f"New server: 127.0.0.1:{new.port} (plain, STARTTLS), admin user 'admin'")
        for email, _, _ in USERS:
            new.add_user(email, "not-needed-master-login")
        t = time.monotonic()
        n = seed(old)
        print(f"Filled the old server with {n} messages for {len(USERS)} users "
              f"in {time.monotonic() - t:.1f} s.")
        users = work / "users.csv"
        users.write_text("".join(f"{e};{p};{name}\n" for e, p, name in USERS), encoding="utf-8")
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
        if a.keep:
            print("Servers keep running; Ctrl+C stops them.")
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return max(rc1, rc2, rc3)
    finally:
        old.stop()
        new.stop()


if __name__ == "__main__":
    raise SystemExit(main())
