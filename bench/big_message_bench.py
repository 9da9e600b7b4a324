"""Peak memory and time of copying one very large message (issue 6, point 10).

    python bench/big_message_bench.py [--mb 100]

Starts two Dovecot servers on 127.0.0.1, puts one message of MB megabytes
(and a small one) on the source, runs `kimt migrate`, checks the copy is
byte-exact, and prints the time and the worker's peak memory (RSS) that the
worker writes to the Debug log ("worker peak memory N MB"). Memory should
stay a small multiple of the message size: the body is held once as
fetched, and sent from there without being copied into a literal.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from dovecot import Dovecot, make_message  # noqa: E402

USER, PASSWORD = "big@example.com", "Big-Secret-1"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=100, help="size of the big message (default 100)")
    opts = ap.parse_args()
    size = opts.mb * 1_000_000
    with Dovecot() as src, Dovecot() as dst, \
            tempfile.TemporaryDirectory() as tmp:
        src.add_user(USER, PASSWORD)
        dst.add_user(USER, "x")
        big = make_message("Big scan", size=size)
        t = time.monotonic()
        src.append(USER, "INBOX", big, ["\\Seen"], "10-Oct-2020 10:10:10 +0200")
        src.append(USER, "INBOX", make_message("small"))
        print(f"seeded a {len(big) / 1e6:.0f} MB message in {time.monotonic() - t:.1f} s")
        sha = hashlib.sha256(big).hexdigest()
        del big
        users = Path(tmp, "users.csv")
        users.write_text(f"{USER};{PASSWORD}\n")
        passfile = Path(tmp, "admin.pass")
        passfile.write_text("adminpass\n")
        cmd = [sys.executable, "-m", "kimt", "migrate", "--users", str(users),
               "--source-host", f"127.0.0.1:{src.port}", "--source-security", "none",
               "--target-host", f"127.0.0.1:{dst.port}", "--target-security", "none",
               "--target-auth", "master", "--target-user", "admin",
               "--target-pass-file", str(passfile), "--log-dir", str(Path(tmp, "logs")),
               "--quiet"]
        t = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        seconds = time.monotonic() - t
        if proc.returncode != 0:
            print(proc.stdout, proc.stderr)
            return 1
        debug = next(Path(ln.split(":", 1)[1].strip()) for ln in proc.stdout.splitlines()
                     if ln.startswith("Debug log:"))
        peaks = [int(x) for x in re.findall(r"worker peak memory (\d+) MB", debug.read_text())]
        bodies = dst.bodies(USER, "INBOX").values()
        exact = any(hashlib.sha256(b).hexdigest() == sha for b in bodies)
        print(f"migrate: {seconds:.1f} s for {opts.mb} MB ({opts.mb / seconds:.1f} MB/s); "
              f"byte-exact: {'yes' if exact else 'NO'}")
        print(f"worker peak memory (RSS): {max(peaks)} MB = {max(peaks) / opts.mb:.1f}x "
              "the message size")
        return 0 if exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
