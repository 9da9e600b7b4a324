"""Benchmark `kimt migrate` between two local Dovecot servers and print the figures.

    python bench/migrate_bench.py [--users 4] [--messages 1500] [--workers 4]

Generates a corpus with a realistic size mix (mostly small mail, some
attachments, a few large ones), runs a first migration and a re-run (which
must copy nothing), and prints messages/s, MB/s and peak memory of the
main process and of the largest worker. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from dovecot import Dovecot, make_message  # noqa: E402

# (share, low, high) bytes: what a typical office mailbox looks like.
SIZE_MIX = [(0.55, 1_500, 8_000), (0.30, 8_000, 80_000), (0.13, 80_000, 800_000),
            (0.02, 800_000, 6_000_000)]


def message_size(rng: random.Random) -> int:
    x = rng.random()
    for share, low, high in SIZE_MIX:
        if x < share:
            return rng.randint(low, high)
        x -= share
    return SIZE_MIX[-1][2]


def seed(server: Dovecot, users: list[str], per_user: int, seed_value: int) -> tuple[int, int]:
    rng = random.Random(seed_value)
    total_bytes = 0
    folders = ["INBOX", "Sent", "Archive/2022", "Archive/2023", "Projects"]
    for user in users:
        for f in folders[1:]:
            server.create_folder(user, f)
        for f in folders:
            batch = []
            for i in range(per_user // len(folders)):
                raw = make_message(f"{f} {i}", size=message_size(rng))
                total_bytes += len(raw)
                batch.append((raw, rng.choice([[], ["\\Seen"], ["\\Seen", "\\Answered"]]),
                              f"{rng.randint(1, 28):02d}-May-2023 10:00:00 +0200"))
            server.append_many(user, f, batch)
    return per_user // len(folders) * len(folders) * len(users), total_bytes


def run(args: list[str]) -> tuple[float, str, int]:
    t = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run([sys.executable, "-m", "kimt", *args], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    seconds = time.monotonic() - t
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        sys.exit(f"kimt exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return seconds, proc.stdout, max(peak_kb, before) // 1024


def worker_peak(stdout: str) -> int:
    debug = next(ln.split(":", 1)[1].strip() for ln in stdout.splitlines()
                 if ln.startswith("Debug log:"))
    return max(int(x) for x in re.findall(r"worker peak memory (\d+) MB",
                                          Path(debug).read_text()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=4)
    ap.add_argument("--messages", type=int, default=1500, help="per user")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kimt-bench-"))
    with Dovecot() as src, Dovecot() as dst:
        users = [f"user{i}@bench.example" for i in range(a.users)]
        for u in users:
            src.add_user(u, f"pw-{u}")
            dst.add_user(u, "unused")
        t = time.monotonic()
        count, nbytes = seed(src, users, a.messages, a.seed)
        print(f"corpus: {a.users} users, {count} messages, {nbytes / 2**20:.1f} MB "
              f"(seeded in {time.monotonic() - t:.1f} s)")
        csv = work / "users.csv"
        csv.write_text("".join(f"{u};pw-{u}\n" for u in users))
        admin = work / "admin.pass"
        admin.write_text("adminpass\n")
        args = ["migrate", "--users", str(csv), "--source-host", f"127.0.0.1:{src.port}",
                "--source-security", "none", "--target-host", f"127.0.0.1:{dst.port}",
                "--target-security", "none", "--target-auth", "master", "--target-user",
                "admin", "--target-pass-file", str(admin), "--log-dir", str(work / "logs"),
                "--workers", str(a.workers), "--quiet"]
        for label in ("first run", "re-run"):
            seconds, out, main_peak = run(args)
            copied = int(re.search(r"Copied: ([\d ]+)", out).group(1).replace(" ", ""))
            print(f"{label}: {seconds:.1f} s, {copied} copied, "
                  f"{count / seconds:.0f} messages/s, {nbytes / 2**20 / seconds:.1f} MB/s "
                  f"(of the corpus), peak memory: largest process {main_peak} MB, "
                  f"largest worker {worker_peak(out)} MB")
            if label == "re-run" and copied:
                sys.exit("re-run copied messages: duplicates!")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
