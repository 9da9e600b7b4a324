"""KIMT's W1–W4 benchmark (issue 10), with mbsync and Dovecot's dsync measured beside it.

    .venv/bin/python bench/workloads.py W2 [W4 ...] [--repeat 3] [--tools kimt,mbsync,dsync]
        [--workers 4] [--kimt-args "--batch-mb 8"] [--json FILE] [--keep]

| workload | corpus (seeded)                         | link between tools and servers |
| W1       | 10 users × 500 msgs, seed 42 (≈ 470 MB) | loopback                       |
| W2       | 4 users × 200 msgs, seed 7 (≈ 71 MB)    | 20 ms round trip               |
| W3       | W2's mail                               | 100 ms round trip              |
| W4       | 1 user × 2000 msgs, seed 7 (≈ 200 MB)   | 20 ms round trip               |

Two throw-away Dovecots run on 127.0.0.1 (tests/dovecot.py).  The source is seeded
once (bench/corpus.py); then, for each repetition and each tool in turn (so a slow
drift of the machine spreads over all tools), a fresh destination is started, the
tool runs (first run), then runs again (the re-run must copy nothing), each time
measured by bench/measure.py.  A link is bench/latency_proxy.py in a process of its
own in front of each server (half the round trip each way); the counts that check
a run go straight to the servers.  After each run every selectable folder is
counted on both sides (STATUS MESSAGES): a folder missing or with a different count
is reported loudly and marks the row; a missing folder that is empty on the source
is only noted.  msg/s and MB/s are over the corpus totals, so that a tool that
skips mail does not look fast.  The table shows medians over the repetitions and
the ratio of KIMT's figures to each other tool's (> 1: KIMT is faster).  Before
each run the bench waits (--quiet-wait) for the machine to be quiet: a run that
still starts on a busy machine (another test suite, say) is flagged, as its figures
are not comparable.

Every server's folder is deleted only when all runs are done, not after its own:
ext4 passes over inodes freed in the last 30 s when it makes a file (its
``recently_deleted`` check), and on this machine that scan was 30-47 % of all CPU
during the run that followed a deleted destination (perf) - which made whichever
tool came next look slow, mbsync and dsync most.  "servers' CPU s" is what the two
Dovecots (master and imap processes) spent during the first run: on loopback the
tool shares the cores with them, so the tool's own CPU plus theirs, over the
cores, bounds how fast any tool can go.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))
sys.path.insert(0, str(BENCH))

from corpus import Corpus, seed_corpus, user_name  # noqa: E402
from dovecot import Dovecot  # noqa: E402
from measure import Measurement, machine_busy, run_measured, tree_cpu_s  # noqa: E402
from runners import Dsync, Kimt, Mbsync, Runner, Setup  # noqa: E402

Counts = dict[str, dict[str, int]]  # {user: {logical folder: messages}}
BUSY_WARNING_PCT = 20  # the machine this busy just before a run: something else runs


@dataclass(frozen=True)
class Workload:
    name: str
    users: int
    per_user: int
    seed: int
    rtt_ms: float  # 0: loopback, no proxy


WORKLOADS = {
    "W1": Workload("W1", 10, 500, 42, 0),
    "W2": Workload("W2", 4, 200, 7, 20),
    "W3": Workload("W3", 4, 200, 7, 100),
    "W4": Workload("W4", 1, 2000, 7, 20),
}


# --------------------------------------------------------------------------- the servers
def folder_counts(server: Dovecot, users: Sequence[str]) -> Counts:
    """Messages in every selectable folder of each user (STATUS, master login)."""
    out: Counts = {}
    for user in users:
        listed = server.folders(user)
        m = server.connect(user)
        try:
            counts = {}
            for name, info in listed.items():
                if {"\\noselect", "\\nonexistent"} & {f.lower() for f in info["flags"]}:
                    continue
                quoted = '"' + server.server_name(name).replace("\\", "\\\\") \
                    .replace('"', '\\"') + '"'
                typ, data = m.status(quoted, "(MESSAGES)")
                found = re.search(rb"MESSAGES (\d+)", data[0] or b"") if typ == "OK" else None
                counts[name] = int(found.group(1)) if found else -1
            out[user] = counts
        finally:
            m.logout()
    return out


def compare(source: Counts, destination: Counts) -> tuple[list[str], list[str]]:
    """(problems, notes): folders missing or counted differently; missing empty ones."""
    problems, notes = [], []
    for user, folders in source.items():
        there = destination.get(user, {})
        for name, n in folders.items():
            if name not in there:
                (notes if n == 0 else problems).append(
                    f"{user} {name}: folder missing on the destination ({n} on the source)")
            elif there[name] != n:
                problems.append(f"{user} {name}: {there[name]} on the destination, {n} on "
                                "the source")
        for name, n in there.items():
            if name not in folders and n:
                problems.append(f"{user} {name}: {n} messages in a folder the source lacks")
    return problems, notes


@contextmanager
def latency_link(target_port: int, rtt_ms: float) -> Iterator[int]:
    """bench/latency_proxy.py in a process of its own; yields the port to connect to."""
    proc = subprocess.Popen([sys.executable, str(BENCH / "latency_proxy.py"),
                             str(target_port), f"{rtt_ms:g}"],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        found = re.match(r"127\.0\.0\.1:(\d+) ->", line)
        if not found:
            raise RuntimeError(f"latency proxy did not start: {line!r}")
        yield int(found.group(1))
    finally:
        proc.terminate()
        proc.wait(10)


# --------------------------------------------------------------------------- one run
def wait_quiet(patience_s: float) -> float:
    """Wait up to ``patience_s`` for the machine to be quiet; its last busy share (%)."""
    deadline = time.monotonic() + patience_s
    busy = machine_busy()
    while busy > BUSY_WARNING_PCT and time.monotonic() < deadline:
        busy = machine_busy()
    return busy


def rates(m: Measurement, corpus: Corpus) -> dict:
    d = m.as_dict()
    d["msgs_per_s"] = round(corpus.messages / m.wall_s, 1)
    d["mb_per_s"] = round(corpus.bytes / 1e6 / m.wall_s, 2)
    return d


def copied(log: Path) -> int | None:
    """KIMT's "Copied: N" (digits may be grouped by spaces) from its summary."""
    found = re.findall(r"Copied:\s*(\d[\d\s\u00a0\u202f]*)", log.read_text(errors="replace"))
    return int(re.sub(r"\D", "", found[-1])) if found else None


def tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def servers_cpu_s(*servers: Dovecot) -> float:
    return sum(tree_cpu_s(s.pid) for s in servers if s.pid is not None)


def measure_tool(runner: Runner, wl: Workload, rep: int, src: Dovecot, corpus: Corpus,
                 source_counts: Counts, work: Path, leftovers: ExitStack,
                 timeout_s: float | None = None, quiet_wait_s: float = 0) -> dict:
    """A fresh destination; the tool's first run and re-run, measured and checked.
    The destination is stopped afterwards and deleted by ``leftovers`` (see the
    module's docstring: not before the other runs)."""
    work.mkdir(parents=True)
    record: dict = {"workload": wl.name, "tool": runner.name, "repetition": rep}
    with ExitStack() as stack:
        dst = Dovecot()
        for user in corpus.users:
            dst.add_user(user, "unused")
        leftovers.callback(dst.cleanup)
        dst.start()
        stack.callback(dst.stop)
        src_port, dst_port = src.port, dst.port
        if wl.rtt_ms:
            src_port = stack.enter_context(latency_link(src.port, wl.rtt_ms))
            dst_port = stack.enter_context(latency_link(dst.port, wl.rtt_ms))
        setup = Setup(corpus.users, src_port, dst_port, dst.conf_path,
                      (src.master_user, src.master_password), work)
        cmd = runner.command(setup)
        record["command"] = shlex.join(cmd)
        for run in ("first", "rerun"):
            log = work / f"{run}.log"
            os.sync()  # earlier writes (seeding, the last run) must not land in this timing
            busy = wait_quiet(quiet_wait_s)
            servers0 = servers_cpu_s(src, dst)
            m = run_measured(cmd, log=log, cwd=work, env=runner.env(), timeout_s=timeout_s)
            time.sleep(0.3)  # the servers' imap processes end once the tool has logged out
            servers = servers_cpu_s(src, dst) - servers0
            record[run] = rates(m, corpus) if run == "first" else m.as_dict()
            record[run]["busy_before_pct"] = busy
            record[run]["servers_cpu_s"] = round(servers, 2)
            problems, notes = compare(source_counts, folder_counts(dst, corpus.users))
            if m.returncode != 0:
                problems.insert(0, f"exit status {m.returncode}; log {log}:\n{tail(log)}")
            if runner.name == "kimt":
                n = copied(log)
                record[run]["copied"] = n
                if run == "rerun" and n:
                    problems.append(f"the re-run copied {n} messages")
            record[run]["problems"], record[run]["notes"] = problems, notes
            say = (f"  {wl.name} #{rep} {runner.name:6} {run:5}: {m.wall_s:7.1f} s"
                   f"  cpu {m.cpu_s:6.1f} s  servers {servers:5.1f} s"
                   f"  tree {m.peak_tree_mb:6.0f} MB"
                   f"  machine {m.machine_cpu_pct:3.0f} %")
            if run == "first":
                r = record[run]
                say += f"  {r['msgs_per_s']:7.1f} msg/s {r['mb_per_s']:6.2f} MB/s"
            if busy > BUSY_WARNING_PCT:
                say += f"  (machine {busy:.0f} % busy before: figures disturbed)"
            print(say, flush=True)
            for line in problems[:8]:
                print(f"  !! MISMATCH {wl.name} {runner.name} {run}: {line}", flush=True)
            if len(problems) > 8:
                print(f"  !! ... and {len(problems) - 8} more (all in the JSON)", flush=True)
            for line in notes[:3]:
                print(f"     note: {line}", flush=True)
    record["ok"] = not (record["first"]["problems"] or record["rerun"]["problems"])
    return record


# --------------------------------------------------------------------------- summary
def summarize(runs: list[dict]) -> list[dict]:
    rows: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        rows.setdefault((r["workload"], r["tool"]), []).append(r)
    out = []
    for (wl, tool), rs in rows.items():
        def med(run: str, key: str, rs: list[dict] = rs) -> float:
            return round(statistics.median(r[run][key] for r in rs), 2)

        out.append({"workload": wl, "tool": tool, "runs": len(rs),
                    "msgs_per_s": med("first", "msgs_per_s"), "mb_per_s": med("first", "mb_per_s"),
                    "first_s": med("first", "wall_s"), "rerun_s": med("rerun", "wall_s"),
                    "peak_tree_mb": med("first", "peak_tree_mb"),
                    "cpu_s": med("first", "cpu_s"),
                    "servers_cpu_s": med("first", "servers_cpu_s"),
                    "machine_cpu_pct": med("first", "machine_cpu_pct"),
                    "ok": all(r["ok"] for r in rs),
                    "disturbed": sum(any(r[run]["busy_before_pct"] > BUSY_WARNING_PCT
                                         for run in ("first", "rerun")) for r in rs)})
    return out


def ratios(summary: list[dict]) -> list[dict]:
    """KIMT against each other tool per workload: > 1 means KIMT is faster."""
    out = []
    by = {(s["workload"], s["tool"]): s for s in summary}
    for (wl, tool), s in by.items():
        k = by.get((wl, "kimt"))
        if tool == "kimt" or k is None:
            continue
        out.append({"workload": wl, "versus": tool,
                    "msgs_per_s": round(k["msgs_per_s"] / s["msgs_per_s"], 2),
                    "rerun_speed": round(s["rerun_s"] / k["rerun_s"], 2)})
    return out


def print_table(summary: list[dict], ratio_rows: list[dict], repeat: int) -> None:
    head = (f"| tool | workload | msg/s (median of {repeat}) | MB/s | first-run s | re-run s "
            "| peak tree MB | CPU s | servers' CPU s | machine CPU % | result |")
    print("\n" + head + "\n" + "|---" * (head.count("|") - 1) + "|")
    for s in summary:
        result = "complete" if s["ok"] else "MISMATCH"
        if s["disturbed"]:
            result += f", {s['disturbed']} run(s) on a busy machine"
        print(f"| {s['tool']} | {s['workload']} | {s['msgs_per_s']:.1f} | {s['mb_per_s']:.2f} "
              f"| {s['first_s']:.1f} | {s['rerun_s']:.2f} | {s['peak_tree_mb']:.0f} "
              f"| {s['cpu_s']:.1f} | {s['servers_cpu_s']:.1f} | {s['machine_cpu_pct']:.0f} "
              f"| {result} |")
    if ratio_rows:
        print()
    for r in ratio_rows:
        print(f"{r['workload']}: KIMT/{r['versus']} msg/s {r['msgs_per_s']:.2f}×, "
              f"re-run speed {r['rerun_speed']:.2f}×")


# --------------------------------------------------------------------------- main
def versions(runners: list[Runner]) -> dict[str, str]:
    def first_line(cmd: list[str], env: dict[str, str] | None = None) -> str:
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env,
                               cwd="/")  # not the checkout: -m would import from there
        except (OSError, subprocess.TimeoutExpired):
            return "?"
        return ((p.stdout or p.stderr).strip().splitlines() or ["?"])[-1]

    out = {"dovecot": first_line(["dovecot", "--version"])}
    for r in runners:
        if r.name == "kimt":
            out["kimt"] = first_line([sys.executable, "-m", "kimt", "--version"], r.env())
        elif r.name == "mbsync":
            out["mbsync"] = first_line(["mbsync", "--version"])
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workloads", nargs="+", choices=sorted(WORKLOADS), metavar="W",
                    help="W1 W2 W3 W4 (several run one after the other)")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions per tool (default 3)")
    ap.add_argument("--tools", default="kimt,mbsync,dsync",
                    help="comma-separated, from kimt, mbsync, dsync (default all)")
    ap.add_argument("--workers", type=int, default=4, help="KIMT's --workers (default 4)")
    ap.add_argument("--jobs", type=int, default=2,
                    help="mbsync and dsync processes side by side (default 2)")
    ap.add_argument("--kimt-args", default="", help='more options for kimt, e.g. "--batch-mb 8"')
    ap.add_argument("--kimt-root", type=Path,
                    help="a folder holding the kimt package to time instead of the installed "
                         "one (e.g. a `git archive HEAD kimt` unpacked there)")
    ap.add_argument("--timeout", type=float, default=3600,
                    help="seconds after which a run is killed (default 3600)")
    ap.add_argument("--quiet-wait", type=float, default=30, metavar="S",
                    help="before each run, wait up to S seconds for the machine to be "
                         f"under {BUSY_WARNING_PCT} %% busy (default 30)")
    ap.add_argument("--servers-dir", type=Path, default=Path("/tmp"), metavar="DIR",
                    help="where the servers keep their mail (default /tmp, on disk; "
                         "/dev/shm keeps it in memory, so no file system's state is in "
                         "the figures)")
    ap.add_argument("--json", type=Path, help="write every figure here")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder (logs, state)")
    small = ap.add_argument_group("a smaller or different workload (for trying the bench)")
    small.add_argument("--users", type=int)
    small.add_argument("--messages", type=int, help="per user")
    small.add_argument("--rtt-ms", type=float)
    a = ap.parse_args(argv)
    if a.repeat < 1:
        ap.error("--repeat must be at least 1")
    return a


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    available = {"kimt": Kimt(a.workers, shlex.split(a.kimt_args), a.kimt_root),
                 "mbsync": Mbsync(a.jobs), "dsync": Dsync(a.jobs)}
    runners = []
    for name in a.tools.split(","):
        runner = available.get(name.strip())
        if runner is None:
            sys.exit(f"unknown tool {name!r} (kimt, mbsync, dsync)")
        why = runner.missing()
        if why:
            print(f"skipping {name}: {why}", flush=True)
        else:
            runners.append(runner)
    kimt = available["kimt"]
    if kimt in runners:
        package = kimt.package()
        if package is None:
            sys.exit(f"{sys.executable} can't import kimt: run this with the project's "
                     ".venv/bin/python (or give --kimt-root)")
        print(f"kimt package: {package}")
        # time KIMT as installed: pip compiles its modules, while a checkout under
        # PYTHONDONTWRITEBYTECODE=1 would compile them again in every process
        compileall.compile_dir(package, quiet=1)

    report: dict = {"machine": {"cpus": os.cpu_count(), "system": platform.platform(),
                                "python": platform.python_version()},
                    "versions": versions(runners), "settings": {
                        "repeat": a.repeat, "tools": [r.name for r in runners],
                        "kimt_workers": a.workers, "jobs": a.jobs, "kimt_args": a.kimt_args,
                        "servers_dir": str(a.servers_dir)},
                    "workloads": {}, "runs": []}
    print("versions: " + "; ".join(f"{k} {v}" for k, v in report["versions"].items()))
    os.environ["KIMT_RIG_DIR"] = str(a.servers_dir)  # read by tests/rig_server.py
    work_root = Path(tempfile.mkdtemp(prefix="kimt-workloads-"))
    leftovers = ExitStack()  # every server's folder, deleted once all runs are done
    try:
        for name in a.workloads:
            wl = WORKLOADS[name]
            if a.users or a.messages or a.rtt_ms is not None:
                wl = replace(wl, name=wl.name + "*", users=a.users or wl.users,
                             per_user=a.messages or wl.per_user,
                             rtt_ms=wl.rtt_ms if a.rtt_ms is None else a.rtt_ms)
            src = Dovecot()
            for i in range(wl.users):
                src.add_user(user_name(i), "unused")
            leftovers.callback(src.cleanup)
            with ExitStack() as running:
                src.start()
                running.callback(src.stop)
                corpus = seed_corpus(wl.users, wl.per_user, wl.seed, host=src.host,
                                     port=src.port, master=(src.master_user, src.master_password))
                source_counts = folder_counts(src, corpus.users)
                seeded = sum(sum(f.values()) for f in source_counts.values())
                print(f"{wl.name}: {wl.users} users × {wl.per_user} (seed {wl.seed}) = "
                      f"{corpus.messages} messages, {corpus.bytes / 1e6:.1f} MB, link "
                      f"{f'{wl.rtt_ms:g} ms round trip' if wl.rtt_ms else 'loopback'}; "
                      f"seeded in {corpus.seconds:.1f} s", flush=True)
                if seeded != corpus.messages:
                    sys.exit(f"the source holds {seeded} messages, not {corpus.messages}")
                report["workloads"][wl.name] = {
                    **asdict(wl), "messages": corpus.messages, "bytes": corpus.bytes,
                    "digest": corpus.digest, "seed_seconds": round(corpus.seconds, 1)}
                for rep in range(1, a.repeat + 1):
                    for runner in runners:
                        report["runs"].append(measure_tool(
                            runner, wl, rep, src, corpus, source_counts,
                            work_root / wl.name / f"{runner.name}-{rep}", leftovers,
                            a.timeout, a.quiet_wait))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        leftovers.close()
        if a.keep:
            print(f"logs and state kept in {work_root}")
        else:
            shutil.rmtree(work_root, ignore_errors=True)

    report["summary"] = summarize(report["runs"])
    report["ratios"] = ratios(report["summary"])
    print_table(report["summary"], report["ratios"], a.repeat)
    if a.json:
        a.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        print(f"figures written to {a.json}")
    return 0 if all(s["ok"] for s in report["summary"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
