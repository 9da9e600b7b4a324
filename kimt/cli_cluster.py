"""`kimt migrate --cluster`, `kimt cluster-certs`, `kimt cluster-scheduler` and
`kimt cluster-worker`: one run spread over several computers (docs/scale.md).

The two wrappers start Dask's own scheduler and worker with the options a
KIMT cluster needs (TLS with the certificates of `cluster-certs`, one
worker process per machine, the dashboard kept to the machine itself), so
that an admin types one line per machine. They hold no password: the
passwords reach a worker inside its tasks, over TLS.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from .core.errors import InputError

DEFAULT_PORT = 8786  # Dask's scheduler port
DEFAULT_MAILBOXES = 4  # mailboxes a worker machine copies at once


def add_cluster_options(c: argparse.ArgumentParser) -> None:
    g = c.add_argument_group("cluster (several computers; pip install 'kimt[cluster]', see "
                             "docs/scale.md)")
    g.add_argument("--cluster", metavar="tls://HOST:PORT",
                   help="run the mailboxes on the Dask workers of this scheduler (started "
                        "with 'kimt cluster-scheduler'); this computer writes the logs. "
                        "Each worker's --mailboxes, not --workers, sets how many run at once")
    g.add_argument("--cluster-certs", metavar="DIR",
                   help="the certificates folder made by 'kimt cluster-certs' (this computer "
                        "uses ca.pem and coordinator-*.pem)")
    g.add_argument("--cluster-insecure", action="store_true",
                   help="allow a tcp:// address: passwords then cross the network unencrypted")


def add_cluster_commands(sub) -> None:
    text = "make the CA and the certificates of a KIMT cluster"
    c = sub.add_parser("cluster-certs", help=text, description=text + " (docs/scale.md).")
    c.add_argument("dir", metavar="DIR", help="an empty folder for the certificates")
    c.add_argument("--host", action="append", default=[], metavar="NAME",
                   help="a machine's name or address written into the certificates "
                        "(repeatable; optional)")

    text = "start the Dask scheduler of a KIMT cluster on this computer"
    c = sub.add_parser("cluster-scheduler", help=text, description=text + ".")
    c.add_argument("--certs", required=True, metavar="DIR",
                   help="the certificates folder (this machine uses ca.pem, scheduler-*.pem)")
    c.add_argument("--host", default="", metavar="ADDRESS",
                   help="the address to listen on (default: all of this machine's)")
    c.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"the port workers and the coordinator connect to (default "
                        f"{DEFAULT_PORT}; open it in the firewall)")
    c.add_argument("--dashboard", default="127.0.0.1:8787", metavar="HOST:PORT",
                   help="Dask's dashboard, unencrypted and without a login: on this machine "
                        "only by default (reach it through an SSH tunnel); 'off' for none")

    text = "start a Dask worker of a KIMT cluster on this computer"
    c = sub.add_parser("cluster-worker", help=text, description=text + ".")
    c.add_argument("address", metavar="tls://HOST:PORT", help="the scheduler")
    c.add_argument("--certs", metavar="DIR",
                   help="the certificates folder (this machine uses ca.pem, worker-*.pem)")
    c.add_argument("--mailboxes", type=int, default=DEFAULT_MAILBOXES, metavar="N",
                   help=f"mailboxes this machine copies at once (default {DEFAULT_MAILBOXES})")
    c.add_argument("--name", metavar="NAME", help="the name the Report gives this worker "
                   "(default: Dask's)")
    c.add_argument("--state-dir", metavar="DIR",
                   help="where this machine keeps its migration journal (default: the "
                        "user's state folder)")
    c.add_argument("--worker-port", metavar="N",
                   help="the port the scheduler and the coordinator reach this worker on "
                        "(default: any free one; fix it to open it in a firewall)")
    c.add_argument("--nanny-port", metavar="N",
                   help="the port of the process that restarts the worker (default: any)")
    c.add_argument("--cluster-insecure", action="store_true",
                   help="allow a tcp:// scheduler address (passwords unencrypted)")


def coordinator(args: argparse.Namespace):
    """The `Coordinator` of `--cluster`, or None for a run on this computer alone."""
    if not getattr(args, "cluster", None):
        for option in ("cluster_certs", "cluster_insecure"):
            if getattr(args, option, None):
                raise InputError(f"--{option.replace('_', '-')} needs --cluster ADDRESS")
        return None
    from .core.cluster import Coordinator

    c = Coordinator(args.cluster, args.cluster_certs, args.cluster_insecure)
    if c.warning:
        print(f"kimt: {c.warning}", file=sys.stderr)
    return c


def cmd_cluster_certs(args: argparse.Namespace) -> int:
    from .core.certs import make_certs

    files = make_certs(args.dir, args.host)
    print(f"Made in {args.dir}:")
    for path in files:
        print(f"  {path.name}")
    print("Copy ca.pem to every machine, with the scheduler-*.pem pair to the scheduler, "
          "the worker-*.pem pair to each worker and the coordinator-*.pem pair to the "
          "computer that runs 'kimt migrate --cluster'. The *-key.pem files are secrets: "
          "copy them over SSH, never by mail.")
    return 0


def _run(command: list[str], env: dict | None = None) -> int:
    """A Dask command in this Python; its exit code (Ctrl+C ends it)."""
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 130


def _dask_available() -> None:
    from .core.cluster import distributed

    distributed()


def cmd_cluster_scheduler(args: argparse.Namespace) -> int:
    from .core.certs import tls_files

    _dask_available()
    ca, cert, key = tls_files(args.certs, "scheduler")
    command = [sys.executable, "-m", "distributed.cli.dask_scheduler",
               "--protocol", "tls", "--port", str(args.port),
               "--tls-ca-file", str(ca), "--tls-cert", str(cert), "--tls-key", str(key)]
    if args.host:
        command += ["--host", args.host]
    # Dask's HTTP server (its /info pages, metrics) runs even without the dashboard:
    # kept on this machine either way.
    if args.dashboard == "off":
        command += ["--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
    else:
        command += ["--dashboard-address", args.dashboard]
    return _run(command)


def worker_command(address: str, certs: str | None, mailboxes: int, name: str | None,
                   insecure: bool = False, ports: tuple[str | None, str | None] = (None, None),
                   ) -> list[str]:
    """The `dask worker` command line of a KIMT worker (no secret in it)."""
    from .core.certs import tls_files
    from .core.cluster import check_address

    warning = check_address(address, insecure)
    if warning:
        print(f"kimt: {warning}", file=sys.stderr)
    if mailboxes < 1:
        raise InputError(f"--mailboxes must be at least 1, not {mailboxes}")
    command = [sys.executable, "-m", "distributed.cli.dask_worker", address,
               # one process (a nanny restarts it when it dies), a thread per mailbox
               "--nworkers", "1", "--nthreads", str(mailboxes),
               # its HTTP server (metrics, health) runs even without a dashboard: kept local
               "--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
    if address.startswith("tls://"):
        if not certs:
            raise InputError("a tls:// scheduler needs --certs DIR (made by 'kimt "
                             "cluster-certs DIR')")
        ca, cert, key = tls_files(certs, "worker")
        command += ["--tls-ca-file", str(ca), "--tls-cert", str(cert), "--tls-key", str(key)]
    if name:
        command += ["--name", name]
    for option, port in zip(("--worker-port", "--nanny-port"), ports, strict=True):
        if port:
            command += [option, port]
    return command


def cmd_cluster_worker(args: argparse.Namespace) -> int:
    _dask_available()
    command = worker_command(args.address, args.certs, args.mailboxes, args.name,
                             args.cluster_insecure, (args.worker_port, args.nanny_port))
    env = dict(os.environ)
    if args.state_dir:
        from .core.cluster import STATE_DIR_VARIABLE

        env[STATE_DIR_VARIABLE] = os.path.abspath(args.state_dir)
    return _run(command, env)


COMMANDS = {"cluster-certs": cmd_cluster_certs, "cluster-scheduler": cmd_cluster_scheduler,
            "cluster-worker": cmd_cluster_worker}
