"""How closely a run keeps to `--max-bytes-per-second` (issue 12, part 2).

    python bench/throttle_bench.py [--mib 100] [--rate 2000000] [--users 2]

Starts two Dovecot servers on 127.0.0.1, puts MIB MiB of mail on the source
(messages of 256 KiB in two folders per user), runs `kimt migrate` with
`--max-bytes-per-second RATE` and all its workers, checks every message
arrived, and prints the time against what the rate allows. The figure to
meet: 100 MiB at 2 000 000 bytes a second take between 50 and 60 s (the
bucket lets at most one second's worth go early, so the floor is
bytes / rate - 1 s; the rest is start-up and the last batch's append). A
benchmark, not a test: the exit code says whether it was within 50-60 s for
the default figures, or within [bytes / rate - 1 s, bytes / rate + 8 s] for others.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from dovecot import Dovecot, make_message  # noqa: E402

MESSAGE = 256 * 1024
FOLDERS = ("INBOX", "Archive")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=100, help="MiB of mail (default 100)")
    ap.add_argument("--rate", type=float, default=2_000_000,
                    help="--max-bytes-per-second (default 2000000)")
    ap.add_argument("--users", type=int, default=2, help="mailboxes (default 2)")
    opts = ap.parse_args()
    per_folder = -(-opts.mib * 2**20 // (MESSAGE * opts.users * len(FOLDERS)))
    users = [(f"user{n}@example.com", f"Bench-Secret-{n}") for n in range(opts.users)]
    with Dovecot() as src, Dovecot() as dst, tempfile.TemporaryDirectory() as tmp:
        total = count = 0
        started = time.monotonic()
        for user, password in users:
            src.add_user(user, password)
            dst.add_user(user, "x")
            for folder in FOLDERS:
                if folder != "INBOX":
                    src.create_folder(user, folder)
                mail = [make_message(f"{user} {folder} {i}", size=MESSAGE)
                        for i in range(per_folder)]
                total += sum(len(m) for m in mail)
                count += len(mail)
                src.append_many(user, folder, mail)
        print(f"seeded {count} messages, {total / 2**20:.1f} MiB ({total:,} bytes) in "
              f"{time.monotonic() - started:.1f} s")
        csv = Path(tmp, "users.csv")
        csv.write_text("".join(f"{u};{p}\n" for u, p in users))
        passfile = Path(tmp, "admin.pass")
        passfile.write_text("adminpass\n")
        cmd = [sys.executable, "-m", "kimt", "migrate", "--users", str(csv),
               "--source-host", f"127.0.0.1:{src.port}", "--source-security", "none",
               "--target-host", f"127.0.0.1:{dst.port}", "--target-security", "none",
               "--target-auth", "master", "--target-user", "admin",
               "--target-pass-file", str(passfile), "--log-dir", str(Path(tmp, "logs")),
               "--workers", str(opts.users), "--max-bytes-per-second", f"{opts.rate:.0f}",
               "--quiet"]
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        seconds = time.monotonic() - started
        arrived = sum(len(dst.messages(u, f)) for u, _ in users for f in FOLDERS)
    ideal = total / opts.rate
    low, high = (50.0, 60.0) if (opts.mib, opts.rate) == (100, 2_000_000) else (
        ideal - 1, ideal + 8)
    ok = proc.returncode == 0 and arrived == count and low <= seconds <= high
    print(f"kimt migrate --max-bytes-per-second {opts.rate:.0f}: {seconds:.1f} s "
          f"(the rate allows {ideal:.1f} s; {total / seconds / 1e6:.2f} MB/s achieved); "
          f"{arrived} of {count} messages on the destination; exit code {proc.returncode}")
    print(f"within {low:.0f}-{high:.0f} s: {'yes' if ok else 'NO'}")
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
