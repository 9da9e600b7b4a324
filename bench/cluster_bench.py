"""Throughput of `kimt migrate --cluster` with 1 and 2 Dask workers, beside a local run.

    .venv/bin/python bench/cluster_bench.py [W2] [--repeat 1] [--mailboxes 4]

Each setup runs `bench/workloads.py W --tools kimt` (its seeded corpus, its
latency stand-in in front of both servers, every run checked folder by
folder): first KIMT alone on this machine, then a TLS cluster started here
(`kimt cluster-certs`, `cluster-scheduler`, `cluster-worker` × N, each worker
copying --mailboxes mailboxes at once) with 1 and then 2 workers. All of it
runs on this one machine: two workers on a 2-core machine prove that the
mailboxes are spread, not that they go faster (they share the cores, the
servers and the link stand-in). Prints one table row per setup.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))

from dovecot import free_port  # noqa: E402


def kimt(*args: str) -> list[str]:
    return [sys.executable, "-m", "kimt", *args]


def start_cluster(work: Path, workers: int, mailboxes: int) -> tuple[str, Path, list]:
    certs = work / "certs"
    if not certs.exists():
        subprocess.run(kimt("cluster-certs", str(certs)), check=True, capture_output=True)
    port = free_port()
    address = f"tls://127.0.0.1:{port}"
    procs = []
    log = open(work / f"cluster-{workers}.log", "ab")  # noqa: SIM115 (closed with the procs)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs.append(subprocess.Popen(kimt("cluster-scheduler", "--certs", str(certs), "--host",
                                       "127.0.0.1", "--port", str(port), "--dashboard", "off"),
                                  stdout=log, stderr=log, env=env, start_new_session=True))
    for n in range(1, workers + 1):
        procs.append(subprocess.Popen(
            kimt("cluster-worker", address, "--certs", str(certs), "--mailboxes",
                 str(mailboxes), "--name", f"w{n}", "--state-dir", str(work / f"state-w{n}")),
            stdout=log, stderr=log, env=env, start_new_session=True))
    import distributed

    security = distributed.Security(
        tls_ca_file=str(certs / "ca.pem"), tls_client_cert=str(certs / "coordinator-cert.pem"),
        tls_client_key=str(certs / "coordinator-key.pem"), require_encryption=True)
    with distributed.Client(address, security=security, timeout=120) as client:
        client.wait_for_workers(workers, timeout=120)
    return address, certs, procs


def stop(procs: list) -> None:
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in procs:
        p.wait(timeout=60)


def run_workload(workload: str, repeat: int, work: Path, name: str, kimt_args: str) -> dict:
    out = work / f"{name}.json"
    subprocess.run([sys.executable, str(BENCH / "workloads.py"), workload, "--tools", "kimt",
                    "--repeat", str(repeat), "--json", str(out), "--kimt-args", kimt_args],
                   check=True)
    return json.loads(out.read_text())["summary"][0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workload", nargs="?", default="W2")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--mailboxes", type=int, default=4, help="per worker (default 4)")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kimt-cluster-bench-") as tmp:
        work = Path(tmp)
        rows.append(("this machine alone", run_workload(a.workload, a.repeat, work, "local",
                                                        "")))
        for workers in (1, 2):
            address, certs, procs = start_cluster(work, workers, a.mailboxes)
            try:
                time.sleep(2)
                rows.append((f"cluster, {workers} worker(s) × {a.mailboxes} mailboxes",
                             run_workload(a.workload, a.repeat, work, f"cluster{workers}",
                                          f"--cluster {address} --cluster-certs {certs}")))
            finally:
                stop(procs)
    print(f"\n{a.workload}, medians of {a.repeat} run(s), all on this machine "
          f"({os.cpu_count()} cores):\n")
    print("| setup | msg/s | MB/s | first run s | re-run s | checked | runs on a busy machine |")
    print("|---|---|---|---|---|---|---|")
    for name, s in rows:
        print(f"| {name} | {s['msgs_per_s']:.1f} | {s['mb_per_s']:.2f} | {s['first_s']:.1f} | "
              f"{s['rerun_s']:.1f} | {'ok' if s['ok'] else 'MISMATCH'} | {s['disturbed']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
