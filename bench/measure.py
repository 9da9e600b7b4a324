"""Run a command and measure it: wall time, CPU time, peak memory of its process tree,
and how busy the whole machine was.

    m = run_measured(["mbsync", "-a"], log=Path("run.log"))
    print(m.wall_s, m.cpu_s, m.peak_tree_mb, m.machine_cpu_pct)

    python bench/measure.py -- CMD [ARGS...]      (by hand: prints the figures)

Design choices, each because a tool under test forks:
- Peak memory is the summed RSS of the command and all its descendants (KIMT's
  worker processes, parallel mbsync or doveadm jobs), sampled every 0.1 s from
  /proc/<pid>/stat (parent, process group and RSS in one read); a descendant is
  found by walking parent links, so grandchildren count too.  Shared pages count once per process,
  as ``ps`` shows them: the same measure the issue's targets were set with.
- CPU time is the rusage os.wait4() returns: the command's own and that of every
  descendant it waited for - exact, unlike sampling, even for short-lived children.
  This process is made a child subreaper for the run, so a descendant orphaned on
  the way (KIMT's workers hang under a multiprocessing fork server that nobody
  waits for) is reaped, and counted, here rather than by init.
- Machine CPU is /proc/stat's busy share over the run (100 % = all cores), so the
  servers' work shows too: on loopback they share the cores with the tool.
- The command runs in a session of its own, so an interrupted run kills its whole
  process group and nothing else.
Linux only (/proc).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
INTERVAL = 0.1


@dataclass
class Measurement:
    """What one run of a command cost."""

    returncode: int
    wall_s: float
    cpu_s: float  # user + system, the command and its waited-for descendants
    peak_tree_mb: float  # peak of the summed RSS of the process tree (MB = 10^6 bytes)
    machine_cpu_pct: float  # busy share of all cores during the run

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _machine_ticks() -> tuple[int, int]:
    """(all, idle) jiffies since boot, summed over every core."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    return sum(values), values[3] + values[4]  # idle + iowait


def machine_busy(seconds: float = 0.5) -> float:
    """Busy share (%) of all cores over the next ``seconds``: run before a measurement,
    it tells whether something else (another test run, say) shares the machine."""
    ticks0, idle0 = _machine_ticks()
    time.sleep(seconds)
    ticks1, idle1 = _machine_ticks()
    return round(100.0 * (1.0 - (idle1 - idle0) / max(1, ticks1 - ticks0)), 1)


def _stat_fields() -> dict[int, list[bytes]]:
    """Every process's /proc/<pid>/stat fields after its name (state, ppid, pgrp, ...)."""
    out: dict[int, list[bytes]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # gone meanwhile
            continue
        out[int(entry)] = stat[stat.rindex(b")") + 2:].split()
    return out


def _tree_sum(root: int, value, with_group: bool) -> int:
    """The sum of ``value(fields)`` over ``root`` and its descendants (with_group: and
    the rest of its process group, where an orphaned descendant stays)."""
    stats = _stat_fields()
    parent = {pid: root if with_group and int(f[2]) == root else int(f[1])
              for pid, f in stats.items()}
    total = 0
    for pid, fields in stats.items():
        p = pid
        while p > 1 and p != root:  # does the parent chain reach root?
            p = parent.get(p, 0)
        if p == root:
            total += value(fields)
    return total


def tree_rss(root: int) -> int:
    """Summed RSS in bytes of ``root``, its descendants and the rest of its process
    group (a child whose parent died is no descendant any more, but stays in it)."""
    return _tree_sum(root, lambda f: int(f[21]) * PAGE, with_group=True)


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system) ``root`` and its live descendants have used, with
    those of the children they reaped.  The difference of two readings is what a
    server (a Dovecot master and the imap processes it forks, one per connection)
    spent meanwhile: a child alive at the first reading and reaped by the second
    moves from its own counters into its parent's, and counts once."""
    ticks = _tree_sum(root, lambda f: sum(int(x) for x in f[11:15]),  # u/s time, children's
                      with_group=False)
    return ticks / CLOCK_TICKS


def _subreaper(on: bool) -> bool:
    """Make this process the reaper of the orphans of its descendants (Linux
    PR_SET_CHILD_SUBREAPER): a tool's worker whose parent exits first - a
    multiprocessing fork server, say - is then reaped here, so its CPU time is
    counted instead of going to init with it."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(36, int(on), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_measured(cmd: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None, timeout_s: float | None = None,
                 linger_s: float = 30.0) -> Measurement:
    """Run ``cmd`` (stdout and stderr appended to ``log``) and measure it.

    The wall time ends when the command exits; its leftover processes (still in its
    process group) are then waited for up to ``linger_s``, and killed after that.
    After ``timeout_s`` the whole group is killed (the exit status says -9)."""
    ticks0, idle0 = _machine_ticks()
    reaping = _subreaper(True)
    t0 = time.monotonic()
    try:
        with open(log, "ab") as out:
            proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT,
                                    env=None if env is None else dict(env), cwd=cwd,
                                    start_new_session=True)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_rss(proc.pid))
                done.wait(INTERVAL)

        sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
        sampler.start()
        killer = threading.Timer(timeout_s, _kill_group, (proc.pid,)) if timeout_s else None
        if killer is not None:
            killer.start()
        cpu = 0.0
        wall = 0.0
        status = 0
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
            wall = time.monotonic() - t0
            cpu += usage.ru_utime + usage.ru_stime
            done.set()
            deadline = time.monotonic() + linger_s
            while reaping:  # orphans of the command, now children of this process
                try:
                    pid, _st, usage = os.wait4(-proc.pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid:
                    cpu += usage.ru_utime + usage.ru_stime
                elif time.monotonic() > deadline:
                    _kill_group(proc.pid)
                else:
                    time.sleep(0.01)
        except BaseException:  # Ctrl+C: stop the command's whole group, then unwind
            _kill_group(proc.pid)
            raise
        finally:
            done.set()
            sampler.join()
            if killer is not None:
                killer.cancel()
    finally:
        if reaping:
            _subreaper(False)
    proc.returncode = os.waitstatus_to_exitcode(status)
    ticks1, idle1 = _machine_ticks()
    busy = 1.0 - (idle1 - idle0) / max(1, ticks1 - ticks0)
    return Measurement(proc.returncode, round(wall, 3), round(cpu, 2), round(peak / 1e6, 1),
                       round(100.0 * busy, 1))


def main(argv: Sequence[str]) -> int:
    cmd = list(argv[1:] if argv and argv[0] == "--" else argv)
    if not cmd:
        sys.exit(__doc__)
    m = run_measured(cmd, log=Path(os.devnull))
    print(m.as_dict())
    return m.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
