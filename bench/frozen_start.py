"""How fast the frozen wizard starts: time from exec until its window is mapped.

    python bench/frozen_start.py [dist/kimt-VERSION-linux-x86_64.tgz] [--runs 5]

Unpacks the Linux archive (built by installers/linux/build.sh) into a fresh
temporary folder, then starts `./kimt` there with a bare environment, on
$DISPLAY or an Xvfb of its own, and polls with xdotool until the wizard's
window is visible. The first start after unpacking is printed on its own
(cold: nothing of it has run before), then the median of the others.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TITLE_RE = "^KIMT .* mail migration$"  # xdotool's regex is not UTF-8 aware


def start_once(app: Path, display: str, home: Path) -> float:
    env = {"HOME": str(home), "PATH": "/nonexistent", "DISPLAY": display, "LANG": "C.UTF-8"}
    search = dict(os.environ, DISPLAY=display)
    started = time.monotonic()
    proc = subprocess.Popen(["./kimt"], cwd=app, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - started < 60:
            if proc.poll() is not None:
                raise SystemExit(f"kimt exited with {proc.returncode} before showing a window")
            found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", TITLE_RE],
                                   env=search, capture_output=True)
            if found.returncode == 0:
                return time.monotonic() - started
            time.sleep(0.01)
        raise SystemExit("no window after 60 s")
    finally:
        proc.terminate()
        proc.wait(20)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    found = sorted((ROOT / "dist").glob("kimt-*-linux-*.tgz"))
    ap.add_argument("archive", nargs="?", type=Path, default=found[-1] if found else None)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    if a.archive is None or not a.archive.exists():
        ap.error("no archive: run installers/linux/build.sh first, or name one")
    work = Path(tempfile.mkdtemp(prefix="kimt-start-"))
    subprocess.run(["tar", "xzf", str(a.archive.resolve())], cwd=work, check=True)
    app = next(work.iterdir())
    xvfb = None
    display = os.environ.get("DISPLAY", "")
    if not display:
        display = ":" + str(next(n for n in range(150, 250)
                                 if not Path(f"/tmp/.X11-unix/X{n}").exists()))
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x900x24", "-nolisten",
                                 "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not Path(f"/tmp/.X11-unix/X{display[1:]}").exists():
            time.sleep(0.05)
    try:
        times = []
        for n in range(a.runs):
            home = work / f"home{n}"
            home.mkdir()
            times.append(start_once(app, display, home))
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    size = a.archive.stat().st_size / 1e6
    print(f"{a.archive.name}: {size:.1f} MB")
    print(f"first start after unpacking: window mapped after {times[0]:.2f} s")
    if len(times) > 1:
        print(f"later starts: median {statistics.median(times[1:]):.2f} s "
              f"(min {min(times[1:]):.2f}, max {max(times[1:]):.2f}, {len(times) - 1} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
