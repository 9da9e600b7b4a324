"""Time no-op re-runs of `kimt migrate` (nothing left to copy), on loopback and
behind a slow link, against mbsync's no-op run on the same data, and print the figures.

    python bench/rerun_bench.py [--users 10] [--messages 500] [--rtt-ms 20]
                                [--repeat 5] [--workers 4] [--no-mbsync] [--kimt-root DIR]

Targets checked: (a) a no-op re-run of 10 users x 500 messages on loopback
takes at most 0.5 s; (b) behind a 20 ms round-trip link it is no slower than
mbsync's (isync) no-op run on the same data through the same link.

Starts Dovecot servers on 127.0.0.1 (source, KIMT's destination, and a
separate destination for mbsync so that neither tool sees the other's
copies), seeds the source (per user: 11 folders like a real office mailbox,
one of them empty, with non-ASCII, space, "&" and "." in names; realistic size
mix), runs a first `kimt migrate`, then times --repeat re-runs (each must
report "Copied: 0") directly, then through latency_proxy.py in front of both
servers.  mbsync gets one channel per user (far = source, near = its own
destination, `Sync Pull`, `Create Near`, master login "user*admin"); its
first sync runs directly, its no-op runs through the same kind of link, once
sequentially (`mbsync -a`, how it is usually run) and once as --workers
parallel processes (one channel each, like KIMT's --workers).  Before each
timed series through the link, one untimed warm-up run (its time is printed):
the link's ports are new addresses to KIMT, whose first run through them may
not find the journal the direct runs left.
Everything lives in a temporary folder that is removed at the end; the
servers stop even on Ctrl+C.
"""

from __future__ import annotations

import argparse
import compileall
import os
import queue
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from dovecot import Dovecot, make_message  # noqa: E402
from latency_proxy import LatencyProxy  # noqa: E402
from migrate_bench import message_size  # noqa: E402

# (logical folder, share of the user's messages in %); parents Archive, Lists
# and Účty exist only as \Noselect levels.
FOLDERS = [("INBOX", 30), ("Sent", 15), ("Drafts", 2), ("Trash", 5), ("Archive/2019", 12),
           ("Archive/2020", 12), ("Účty/Faktury", 6), ("Project X", 8), ("R&D", 5),
           ("Lists/dev.team", 5), ("Archive/Empty", 0)]
FLAG_MIX = [[], ["\\Seen"], ["\\Seen"], ["\\Seen", "\\Answered"], ["\\Seen", "\\Flagged"],
            ["\\Seen", "$Forwarded"]]
LOOPBACK_TARGET_S = 0.5
MASTER, MASTER_PASS = "admin", "adminpass"
MBSYNC_HINT = "mbsync not found: apt-get install -y isync (or run with --no-mbsync)"


# --------------------------------------------------------------------------- corpus
def folder_counts(per_user: int) -> list[tuple[str, int]]:
    counts = [(f, per_user * share // 100) for f, share in FOLDERS]
    rest = per_user - sum(n for _f, n in counts)
    return [(f, n + rest if f == "INBOX" else n) for f, n in counts]


def seed_user(server: Dovecot, user: str, per_user: int, seed_value: int) -> int:
    rng = random.Random(f"{seed_value}-{user}")
    total = 0
    for folder, n in folder_counts(per_user):
        if folder != "INBOX":
            server.create_folder(user, folder)
        batch = []
        for i in range(n):
            raw = make_message(f"{folder} {i}", size=message_size(rng))
            total += len(raw)
            batch.append((raw, rng.choice(FLAG_MIX),
                          f"{rng.randint(1, 28):02d}-{rng.choice(['Jan', 'May', 'Sep'])}-"
                          f"{rng.randint(2019, 2023)} 10:{rng.randint(0, 59):02d}:00 +0100"))
        if batch:
            server.append_many(user, folder, batch)
    return total


def seed(server: Dovecot, users: list[str], per_user: int, seed_value: int) -> int:
    """Fill the users' mailboxes, a few users at a time; returns the bytes appended."""
    with ThreadPoolExecutor(4) as pool:
        return sum(pool.map(lambda u: seed_user(server, u, per_user, seed_value), users))


def message_count(server: Dovecot, users: list[str]) -> int:
    return sum(f.get("messages") or 0 for u in users
               for f in server.snapshot(u)["folders"].values())


# --------------------------------------------------------------------------- runners
def stats(times: list[float]) -> tuple[float, float, float]:
    return min(times), statistics.median(times), max(times)


def fmt(times: list[float]) -> str:
    lo, med, hi = stats(times)
    return f"min {lo:.3f} s, median {med:.3f} s, max {hi:.3f} s"


class Kimt:
    """`python -m kimt migrate` with fixed options; run(src_port, dst_port) -> (s, copied)."""

    def __init__(self, work: Path, users_csv: Path, workers: int, root: Path):
        self.work, self.root = work, root
        admin = work / "admin.pass"
        admin.write_text(MASTER_PASS + "\n")
        self.common = ["--users", str(users_csv), "--source-security", "none",
                       "--target-security", "none", "--target-auth", "master",
                       "--target-user", MASTER, "--target-pass-file", str(admin),
                       "--log-dir", str(work / "logs"), "--workers", str(workers), "--quiet"]
        self.env = dict(os.environ, PYTHONPATH=str(root))
        help_text = self._kimt(["migrate", "--help"]).stdout
        # the floor of any run: interpreter start, imports, argument parsing
        self.startup = min(self._timed(["migrate", "--help"]) for _ in range(3))
        self.state_dir = work / "state" if "--state-dir" in help_text else None
        if self.state_dir is not None:
            self.common += ["--state-dir", str(self.state_dir)]

    def _kimt(self, args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "kimt", *args], capture_output=True,
                              text=True, cwd=self.root, env=self.env)

    def _timed(self, args: list[str]) -> float:
        t = time.monotonic()
        self._kimt(args)
        return time.monotonic() - t

    def run(self, src_port: int, dst_port: int) -> tuple[float, int]:
        t = time.monotonic()
        proc = self._kimt(["migrate", "--source-host", f"127.0.0.1:{src_port}",
                           "--target-host", f"127.0.0.1:{dst_port}", *self.common])
        seconds = time.monotonic() - t
        if proc.returncode != 0:
            sys.exit(f"kimt exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        m = re.search(r"Copied: ([\d ]+)", proc.stdout)
        if m is None:
            sys.exit(f"no 'Copied: N' in kimt's output:\n{proc.stdout}")
        return seconds, int(m.group(1).replace(" ", ""))


class Mbsync:
    """mbsync, one channel per user (Sync Pull, Create Near), master login user*admin."""

    def __init__(self, work: Path, users: list[str]):
        self.work = work / "mbsync"
        self.state = self.work / "state"
        self.state.mkdir(parents=True)
        self.channels = {u: re.sub(r"[^A-Za-z0-9]", "-", u.split("@")[0]) for u in users}

    def config(self, name: str, far_port: int, near_port: int) -> Path:
        out = [f"SyncState {self.state}/", "FSync no", ""]
        for user, ch in self.channels.items():
            for side, port in (("far", far_port), ("near", near_port)):
                out += [f"IMAPAccount {side}-{ch}", "Host 127.0.0.1", f"Port {port}",
                        f"User {user}*{MASTER}", f"Pass {MASTER_PASS}", "SSLType None",
                        "AuthMechs PLAIN", "", f"IMAPStore {side}-{ch}",
                        f"Account {side}-{ch}", ""]
            out += [f"Channel {ch}", f"Far :far-{ch}:", f"Near :near-{ch}:",
                    "Patterns INBOX *", "Create Near", "Remove None", "Expunge None",
                    "Sync Pull", "CopyArrivalDate yes", ""]
        path = self.work / f"{name}.rc"
        path.write_text("\n".join(out), encoding="utf-8")
        return path

    @staticmethod
    def _mbsync(rc: Path, what: list[str]) -> str:
        proc = subprocess.run(["mbsync", "-c", str(rc), *what], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            sys.exit(f"mbsync {' '.join(what)} exited {proc.returncode}\n"
                     f"{proc.stdout}\n{proc.stderr}")
        return proc.stdout + proc.stderr

    def run(self, rc: Path, parallel: int = 1) -> float:
        """All channels: `mbsync -a`, or `parallel` processes taking one channel each."""
        t = time.monotonic()
        if parallel <= 1:
            self._mbsync(rc, ["-a"])
        else:
            todo: queue.SimpleQueue[str] = queue.SimpleQueue()
            for ch in self.channels.values():
                todo.put(ch)
            errors: list[BaseException] = []

            def drain() -> None:
                try:
                    while True:
                        try:
                            ch = todo.get_nowait()
                        except queue.Empty:
                            return
                        self._mbsync(rc, [ch])
                except BaseException as e:  # SystemExit from _mbsync, re-raised below
                    errors.append(e)

            threads = [threading.Thread(target=drain) for _ in range(parallel)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            if errors:
                raise errors[0]
        return time.monotonic() - t


def series(label: str, repeat: int, once: Callable[[], float],
           warm_up: bool = False) -> list[float]:
    if warm_up:
        print(f"  {label}: warm-up {once():.3f} s (not counted)", flush=True)
    times = [once() for _ in range(repeat)]
    print(f"  {label}: {fmt(times)}  ({' '.join(f'{t:.3f}' for t in times)})", flush=True)
    return times


# --------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--messages", type=int, default=500, help="per user")
    ap.add_argument("--rtt-ms", type=float, default=20.0, help="round trip of the slow link")
    ap.add_argument("--repeat", type=int, default=5, help="timed no-op runs per scenario")
    ap.add_argument("--workers", type=int, default=4,
                    help="KIMT's --workers, and parallel mbsync processes")
    ap.add_argument("--no-mbsync", action="store_true", help="skip the mbsync comparison")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kimt-root", type=Path, default=ROOT,
                    help="folder holding the kimt package to time (default: this checkout)")
    a = ap.parse_args()
    if a.repeat < 1 or a.users < 1 or a.messages < 0:
        ap.error("--repeat and --users must be at least 1")

    # Time KIMT as installed: pip compiles its modules, a checkout under
    # PYTHONDONTWRITEBYTECODE=1 would compile them again in every process.
    compileall.compile_dir(a.kimt_root.resolve() / "kimt", quiet=1)

    use_mbsync = not a.no_mbsync
    if use_mbsync and shutil.which("mbsync") is None:
        print(MBSYNC_HINT, "- skipping mbsync")
        use_mbsync = False

    work = Path(tempfile.mkdtemp(prefix="kimt-rerun-bench-"))
    rows: list[tuple[str, str, list[float], str]] = []
    try:
        with ExitStack() as stack:
            src = stack.enter_context(Dovecot())
            dst = stack.enter_context(Dovecot())
            mdst = stack.enter_context(Dovecot()) if use_mbsync else None
            users = [f"user{i:02d}@bench.example" for i in range(a.users)]
            for u in users:
                src.add_user(u, f"pw-{u}")
                dst.add_user(u, "unused")
                if mdst is not None:
                    mdst.add_user(u, "unused")
            t = time.monotonic()
            nbytes = seed(src, users, a.messages, a.seed)
            count = a.users * a.messages
            print(f"corpus: {a.users} users x {a.messages} messages in {len(FOLDERS)} folders "
                  f"= {count} messages, {nbytes / 2**20:.0f} MB "
                  f"(seeded in {time.monotonic() - t:.1f} s)", flush=True)

            users_csv = work / "users.csv"
            users_csv.write_text("".join(f"{u};pw-{u}\n" for u in users))
            kimt = Kimt(work, users_csv, a.workers, a.kimt_root.resolve())
            print("kimt: " + (f"--state-dir {kimt.state_dir}" if kimt.state_dir else
                              "no --state-dir option, run without it") +
                  f", --workers {a.workers}; start-up (migrate --help) {kimt.startup:.3f} s",
                  flush=True)

            seconds, copied = kimt.run(src.port, dst.port)
            there = message_count(dst, users)
            print(f"kimt first run: {seconds:.1f} s, {copied} copied; destination holds "
                  f"{there} of {count} messages", flush=True)
            if there != count:
                sys.exit("kimt's first run did not copy everything")

            def kimt_noop(src_port: int, dst_port: int) -> float:
                seconds, copied = kimt.run(src_port, dst_port)
                if copied:
                    sys.exit(f"no-op re-run copied {copied} messages: duplicates!")
                return seconds

            print("no-op re-runs, loopback:", flush=True)
            rows.append(("loopback", "kimt", series("kimt", a.repeat,
                                                    lambda: kimt_noop(src.port, dst.port)), "-"))

            rtt = f"{a.rtt_ms:g} ms RTT"
            src_link = stack.enter_context(LatencyProxy(src.port, a.rtt_ms))
            dst_link = stack.enter_context(LatencyProxy(dst.port, a.rtt_ms))
            print(f"no-op re-runs, through {rtt} (latency_proxy in front of each server):",
                  flush=True)

            def conns(*links: LatencyProxy) -> int:
                return sum(p.connections for p in links)

            before = conns(src_link, dst_link)
            times = series("kimt", a.repeat, lambda: kimt_noop(src_link.port, dst_link.port),
                           warm_up=True)
            per_run = (conns(src_link, dst_link) - before) / (a.repeat + 1)
            rows.append((rtt, "kimt", times, f"{per_run:.0f}"))

            if use_mbsync and mdst is not None:
                mb = Mbsync(work, users)
                t = time.monotonic()
                mb.run(mb.config("direct", src.port, mdst.port))
                there = message_count(mdst, users)
                print(f"mbsync first sync (loopback, -a): {time.monotonic() - t:.1f} s; "
                      f"its destination holds {there} of {count} messages", flush=True)
                if there != count:
                    sys.exit("mbsync's first sync did not copy everything")
                msrc_link = stack.enter_context(LatencyProxy(src.port, a.rtt_ms))
                mdst_link = stack.enter_context(LatencyProxy(mdst.port, a.rtt_ms))
                rc = mb.config("link", msrc_link.port, mdst_link.port)
                for label, par in (("mbsync -a", 1), (f"mbsync x{a.workers}", a.workers)):
                    before = conns(msrc_link, mdst_link)
                    times = series(label, a.repeat, lambda par=par: mb.run(rc, par),
                                   warm_up=True)
                    per_run = (conns(msrc_link, mdst_link) - before) / (a.repeat + 1)
                    rows.append((rtt, label, times, f"{per_run:.0f}"))
                after = message_count(mdst, users)
                if after != count:
                    sys.exit(f"mbsync's no-op runs changed its destination: {after} messages")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{a.users} users x {a.messages} messages, {a.repeat} no-op runs each, "
          f"kimt --workers {a.workers}")
    print(f"{'scenario':<14} {'tool':<12} {'min s':>7} {'median s':>9} {'max s':>7} "
          f"{'conns/run':>9}")
    for scenario, tool, times, per_run in rows:
        lo, med, hi = stats(times)
        print(f"{scenario:<14} {tool:<12} {lo:7.3f} {med:9.3f} {hi:7.3f} {per_run:>9}")
    loop_med = stats(rows[0][2])[1]
    verdict = "met" if loop_med <= LOOPBACK_TARGET_S else "MISSED"
    print(f"\n(a) kimt no-op re-run on loopback: median {loop_med:.3f} s "
          f"({verdict}: target <= {LOOPBACK_TARGET_S} s; start-up alone {kimt.startup:.3f} s)")
    kimt_link = stats(rows[1][2])[1]
    for _scenario, tool, times, _ in rows[2:]:
        ratio = kimt_link / stats(times)[1]
        print(f"(b) kimt / {tool} at {a.rtt_ms:g} ms (medians): {ratio:.2f} "
              f"({'met' if ratio <= 1 else 'MISSED'}: target <= 1)")
    if not use_mbsync:
        print("(b) not measured (no mbsync)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
