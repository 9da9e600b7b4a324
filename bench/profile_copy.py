"""Where a worker's CPU goes on loopback: one mailbox copied in this process, profiled.

    python bench/profile_copy.py [--messages 2000] [--top 25] [--sort tottime]

Starts two throw-away Dovecots on 127.0.0.1, seeds one mailbox with the
project's corpus (bench/corpus.py), and runs `MailboxRun` — the very code a
worker runs — in this process under cProfile, so the figures are the
client's own: the servers' CPU is not in them. cProfile sees one thread: the
mailbox runs with one connection pair, and the thread that fetches the next
batch meanwhile is not in the figures (its work is the socket reads the
appending thread waits for). Prints the run's messages/s
and the functions that cost most. This is how the wire layer's raw body
reader and keys-from-bodies were chosen (imapclient's parser and the
header parse of every key were the top entries before).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from corpus import password_for, seed_corpus  # noqa: E402
from dovecot import Dovecot  # noqa: E402

from kimt.core.accounts import Account  # noqa: E402
from kimt.core.mailbox import JobSettings, MailboxRun  # noqa: E402
from kimt.core.servers import ServerConfig  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=2000, help="in the one mailbox")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    a = ap.parse_args()
    with Dovecot() as src, Dovecot() as dst:
        corpus = seed_corpus(1, a.messages, 7)
        user = corpus.users[0]
        src.add_user(user, password_for(user))
        dst.add_user(user, "x")
        corpus = seed_corpus(1, a.messages, 7, host="127.0.0.1", port=src.port,
                             master=("admin", "adminpass"))
        side = dict(host="127.0.0.1", security="none", auth="master", master_user="admin",
                    master_password="adminpass")
        settings = JobSettings(ServerConfig(port=src.port, role="source", **side),
                               ServerConfig(port=dst.port, role="destination", **side),
                               use_journal=False, connections=1)
        run = MailboxRun(Account(user, None), settings, lambda event: None, lambda: False)
        profile = cProfile.Profile()
        started = time.monotonic()
        profile.enable()
        result = run.run()
        profile.disable()
        seconds = time.monotonic() - started
    print(f"{result.state}: {result.copied} copied in {seconds:.2f} s "
          f"({result.copied / seconds:.0f} msg/s, {corpus.bytes / 2**20 / seconds:.1f} MB/s); "
          f"profiled, so slower than a real run")
    stats = pstats.Stats(profile)
    stats.sort_stats(a.sort).print_stats(a.top)
    return 0 if result.copied == corpus.messages else 1


if __name__ == "__main__":
    raise SystemExit(main())
