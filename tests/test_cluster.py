"""One run over several computers with Dask (issue 14), all on 127.0.0.1.

A scheduler and two workers are started by the tests as an admin would start
them (`kimt cluster-scheduler`, `kimt cluster-worker`, TLS with certificates
`kimt cluster-certs` made), then `kimt migrate --cluster` runs between two real
Dovecots: every mailbox identical, both workers used, one Report; a worker
killed with SIGKILL mid-mailbox costs nothing; a cap of 2 source connections
holds across both workers; no password shows in a scheduler or worker log or
in any process's command line. Timeouts are generous and the tests assert
outcomes, not durations (a loaded 2-core machine runs them too).
"""

from __future__ import annotations

import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

try:
    import distributed
except ImportError:  # scripts/setup installs it: under CI a missing Dask is a failure
    if os.environ.get("CI"):
        raise
    pytest.skip("Dask's distributed is not installed (pip install -e '.[cluster]'; "
                "scripts/setup does it)", allow_module_level=True)

from dovecot import free_port, make_message  # noqa: E402
from helpers import (  # noqa: E402
    ADMIN_PASSWORD,
    ROOT,
    assert_same_mail,
    kimt,
    migrate_args,
    report_of,
    run_dir_of,
    write_csv,
)
from tcp_proxy import TcpProxy  # noqa: E402

from kimt.core.accounts import Account  # noqa: E402
from kimt.core.certs import make_certs  # noqa: E402
from kimt.core.cluster import MailboxJob, check_address  # noqa: E402
from kimt.core.errors import InputError, SettingsError  # noqa: E402
from kimt.core.mailbox import JobSettings  # noqa: E402
from kimt.core.servers import ServerConfig  # noqa: E402

START_TIMEOUT = 120  # seconds for the scheduler and both workers on a loaded machine
RUN_TIMEOUT = 600
# A killed worker's leases (connection slots, its mailbox's lock) come back within
# seconds; read where a lease is registered (the coordinator, a worker) and refreshed.
LEASES = {"DASK_DISTRIBUTED__SCHEDULER__LOCKS__LEASE_TIMEOUT": "10s",
          "DASK_DISTRIBUTED__SCHEDULER__LOCKS__LEASE_VALIDATION_INTERVAL": "2s"}


# ----------------------------------------------------------------------------- unit

def test_plain_tcp_is_refused_unless_the_admin_insists():
    assert check_address("tls://10.0.0.5:8786") == ""
    with pytest.raises(SettingsError, match="plain text"):
        check_address("tcp://10.0.0.5:8786")
    assert "not encrypted" in check_address("tcp://10.0.0.5:8786", insecure=True)
    with pytest.raises(SettingsError, match="tls://HOST:PORT"):
        check_address("10.0.0.5:8786")


def test_a_job_shows_no_password():
    account = Account("jdoe@example.com", "Src-Secret-7x!",
                      destination_password="Dst-Secret-9y?")
    source = ServerConfig("imap.example.com", auth="master", master_user="admin",
                          master_password="Admin-Secret-3z#", role="source")
    job = MailboxJob(account, JobSettings(source, ServerConfig("new.example.com")), False,
                     "run1")
    for text in (repr(job), str(job), repr((job,)), str([job])):
        assert "jdoe@example.com" in text
        for secret in ("Src-Secret", "Dst-Secret", "Admin-Secret"):
            assert secret not in text
    assert pickle.loads(pickle.dumps(job)).account.password == "Src-Secret-7x!"


def test_certificates_are_private_and_never_overwritten(tmp_path):
    files = make_certs(tmp_path / "certs", ["10.0.0.5", "sched.example.com"])
    names = {p.name for p in files}
    assert names == {"ca.pem", "scheduler-cert.pem", "scheduler-key.pem", "worker-cert.pem",
                     "worker-key.pem", "coordinator-cert.pem", "coordinator-key.pem"}
    for p in files if os.name == "posix" else ():  # (Windows has no such modes)
        mode = p.stat().st_mode & 0o777
        assert mode == (0o600 if p.name.endswith("-key.pem") else 0o644), (p, oct(mode))
    assert not any("ca-key" in n for n in names)  # nobody can sign another one
    with pytest.raises(InputError, match="never overwrites"):
        make_certs(tmp_path / "certs")


def test_without_the_extra_the_cluster_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['distributed'] = None\n"
            "from kimt.cli import main\n"
            "raise SystemExit(main(sys.argv[1:]))")
    users = write_csv(tmp_path / "users.csv", [("a@example.com", "pw")])
    proc = subprocess.run(
        [sys.executable, "-c", code, "migrate", "--users", str(users),
         "--source-host", "127.0.0.1:1", "--target-host", "127.0.0.1:2",
         "--cluster", "tls://127.0.0.1:3"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'kimt[cluster]'" in proc.stderr


def test_a_tcp_cluster_address_is_refused(tmp_path):
    users = write_csv(tmp_path / "users.csv", [("a@example.com", "pw")])
    proc = kimt("migrate", "--users", str(users), "--source-host", "127.0.0.1:1",
                "--target-host", "127.0.0.1:2", "--cluster", "tcp://127.0.0.1:3")
    assert proc.returncode == 2
    assert "tcp:// sends every password in plain text" in proc.stderr


# ----------------------------------------------------------------------------- the cluster

class Cluster:
    """A scheduler and two workers on 127.0.0.1, started like an admin would."""

    def __init__(self, base: Path):
        self.base = base
        self.certs = base / "certs"
        proc = kimt("cluster-certs", str(self.certs), check_rc=0)
        assert "coordinator-key.pem" in proc.stdout
        self.port = free_port()
        self.address = f"tls://127.0.0.1:{self.port}"
        self.env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1",
                        # a killed worker's connection leases come back within seconds
                        **LEASES)
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self._start("scheduler", ["cluster-scheduler", "--certs", str(self.certs),
                                  "--host", "127.0.0.1", "--port", str(self.port),
                                  "--dashboard", "off"])
        for name in ("w1", "w2"):
            self._start(name, ["cluster-worker", self.address, "--certs", str(self.certs),
                               "--mailboxes", "2", "--name", name])
        self.client = distributed.Client(self.address, security=self.security(),
                                         timeout=START_TIMEOUT, set_as_default=False)
        self.wait_for_workers(2)

    def security(self):
        c = self.certs
        return distributed.Security(tls_ca_file=str(c / "ca.pem"),
                                    tls_client_cert=str(c / "coordinator-cert.pem"),
                                    tls_client_key=str(c / "coordinator-key.pem"),
                                    require_encryption=True)

    def _start(self, name: str, args: list[str]) -> None:
        log = self.base / f"{name}.log"
        with open(log, "ab") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "kimt", *args], stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=self.env, start_new_session=True)
        self.logs[name] = log

    def wait_for_workers(self, count: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while len(self.client.scheduler_info()["workers"]) < count:
            assert time.monotonic() < deadline, self.log_tails()
            time.sleep(0.5)

    def worker_pids(self) -> dict[str, int]:
        """{worker name: pid of its worker process} (the nanny restarts a killed one)."""
        pids = self.client.run(os.getpid)
        names = {a: w["name"] for a, w in self.client.scheduler_info()["workers"].items()}
        return {names[a]: pid for a, pid in pids.items() if a in names}

    def log_tails(self) -> str:
        return "\n".join(f"--- {n}\n" + p.read_text(errors="replace")[-3000:]
                         for n, p in self.logs.items())

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs.values())

    def stop(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    yield c
    c.stop()


class CountingProxy(TcpProxy):
    """Counts the connections open at once (the most seen), and may slow the server's
    answers down (`delay` seconds a chunk) so that a copy lasts long enough to be cut."""

    def __init__(self, target_port: int, delay: float = 0.0):
        super().__init__(target_port, name="counting-proxy")
        self.delay = delay
        self.open = self.most = 0
        self._lock = threading.Lock()

    def serve(self, client: socket.socket, upstream: socket.socket) -> None:
        with self._lock:
            self.open += 1
            self.most = max(self.most, self.open)
        ends = [2]

        def pump(a: socket.socket, b: socket.socket, delay: float) -> None:
            try:
                while data := a.recv(65536):
                    if delay:
                        time.sleep(delay)
                    b.sendall(data)
            except OSError:
                pass
            self.shut(a, b)
            with self._lock:
                ends[0] -= 1
                if ends[0] == 0:
                    self.open -= 1

        threading.Thread(target=pump, args=(client, upstream, 0.0), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client, self.delay), daemon=True).start()


def users_with_mail(src, dst, count: int, messages: int = 20, size: int = 2000,
                    ) -> list[tuple[str, str]]:
    users = [(f"user{i}@example.com", f"Pw-{i}-Secret-{i * 7919}") for i in range(count)]
    for user, password in users:
        src.add_user(user, password)
        dst.add_user(user, "x")
        src.append_many(user, "INBOX", [make_message(f"{user} {n}", size=size)
                                        for n in range(messages)])
        src.create_folder(user, "Archive")
        src.append_many(user, "Archive", [make_message(f"{user} old {n}") for n in range(5)])
    return users


def count(server, user: str, folder: str = "INBOX") -> int:
    """Messages in a folder (EXAMINE: cheap enough to ask often)."""
    m = server.connect(user)
    try:
        return server._examine(m, folder)
    finally:
        server._logout(m)


def cluster_args(cluster: Cluster, src, dst, users_csv: Path, logs: Path, *extra: str,
                 ) -> list[str]:
    return migrate_args(src, dst, users_csv, logs, "--cluster", cluster.address,
                        "--cluster-certs", str(cluster.certs), *extra)


def secrets_of(users: list[tuple[str, str]]) -> list[str]:
    return [password for _, password in users] + [ADMIN_PASSWORD]


def assert_no_secret(text: str, secrets: list[str], where: str) -> None:
    for secret in secrets:
        assert secret not in text, f"a password in {where}"


class CommandLines:
    """Samples every process's command line while a run goes."""

    def __init__(self):
        self.seen: set[str] = set()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.1):
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        line = (entry / "cmdline").read_bytes()
                    except OSError:
                        continue
                    self.seen.add(line.replace(b"\0", b" ").decode(errors="replace"))

    def stop(self) -> set[str]:
        self._done.set()
        self._thread.join()
        return self.seen


def test_eight_mailboxes_over_two_workers(cluster, dovecot_factory, tmp_path):
    src, dst = dovecot_factory(), dovecot_factory()
    users = users_with_mail(src, dst, 8)
    csv = write_csv(tmp_path / "users.csv", users)
    sampler = CommandLines()
    try:
        proc = kimt(*cluster_args(cluster, src, dst, csv, tmp_path / "logs"),
                    timeout=RUN_TIMEOUT, env=LEASES)
    finally:
        lines = sampler.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr + cluster.log_tails()
    for user, _ in users:
        assert_same_mail(src, dst, user)
    report = report_of(proc)
    assert report.count("=== user") == 8
    assert f"Cluster: the Dask scheduler at {cluster.address}" in report
    debug = (run_dir_of(proc) / "debug.log").read_text(encoding="utf-8")
    ran_on = set(re.findall(r"mailbox started on (w\d) ", debug))
    assert ran_on == {"w1", "w2"}, debug[-3000:]
    assert "kimt.copier" in debug or "kimt.mailbox" in debug  # the workers' log lines came
    assert [d for d in (tmp_path / "logs").iterdir() if d.is_dir()] == [run_dir_of(proc)]
    secrets = secrets_of(users)
    assert_no_secret(cluster.log_text(), secrets, "a scheduler or worker log")
    assert_no_secret("\n".join(lines), secrets, "a command line")
    assert any("distributed.cli.dask_worker" in line for line in lines)  # it did sample
    assert_no_secret(debug, secrets, "the Debug log")
    compared = kimt(*migrate_args(src, dst, csv, tmp_path / "verify", "--cluster",
                                  cluster.address, "--cluster-certs", str(cluster.certs),
                                  command="verify"), timeout=RUN_TIMEOUT, env=LEASES)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert report_of(compared).count("=== user") == 8


def test_a_cap_of_two_source_connections_holds_across_both_workers(cluster, dovecot_factory,
                                                                   tmp_path):
    """Three connections per mailbox would go over Dovecot's two per user, and two
    workers copying two mailboxes each over the cap; --max-connections 2 keeps the
    whole run at two, so the source never refuses one."""
    src = dovecot_factory(max_userip_connections=2)
    dst = dovecot_factory()
    users = users_with_mail(src, dst, 6)
    for user, _ in users:  # folders and mail enough for three lanes
        for name in ("Projects", "Travel"):
            src.create_folder(user, name)
            src.append_many(user, name, [make_message(f"{user} {name} {n}") for n in range(40)])
    csv = write_csv(tmp_path / "users.csv", users)
    proxy = CountingProxy(src.port)
    try:
        args = cluster_args(cluster, src, dst, csv, tmp_path / "logs",
                            "--max-connections", "2", "--connections-per-mailbox", "3")
        args[args.index("--source-host") + 1] = f"127.0.0.1:{proxy.port}"
        proc = kimt(*args, timeout=RUN_TIMEOUT, env=LEASES)
    finally:
        proxy.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr + cluster.log_tails()
    for user, _ in users:
        assert_same_mail(src, dst, user)
    assert 1 <= proxy.most <= 2, proxy.most
    assert "Maximum number of connections" not in src.log_text()
    assert "connections at most 2 to the source" in report_of(proc)
    assert_no_secret(cluster.log_text(), secrets_of(users), "a scheduler or worker log")


def test_a_worker_killed_mid_mailbox_costs_nothing(cluster, dovecot_factory, tmp_path):
    src, dst = dovecot_factory(), dovecot_factory()
    users = users_with_mail(src, dst, 4, messages=200, size=8000)
    total = 200
    csv = write_csv(tmp_path / "users.csv", users)
    proxy = CountingProxy(src.port, delay=0.05)  # a mailbox lasts seconds, not a blink
    logs = tmp_path / "logs"
    args = cluster_args(cluster, src, dst, csv, logs, "--batch-mb", "0.1")
    args[args.index("--source-host") + 1] = f"127.0.0.1:{proxy.port}"
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **LEASES)
    with open(tmp_path / "kimt.out", "w") as out:
        run = subprocess.Popen([sys.executable, "-m", "kimt", *args], stdout=out,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    killed = None
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while killed is None and run.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.3)
            debug = next(logs.glob("*/debug.log"), None)
            if debug is None:
                continue
            started = dict(re.findall(r"\[(\S+@\S+)\]: mailbox started on (w\d) ",
                                      debug.read_text(encoding="utf-8")))
            for user, worker in started.items():
                if 10 <= count(dst, user) <= total - 30:
                    pid = cluster.worker_pids()[worker]
                    os.kill(pid, signal.SIGKILL)
                    killed = (user, worker, pid)
                    break
        run.wait(timeout=RUN_TIMEOUT)
    finally:
        if run.poll() is None:
            run.kill()
        proxy.close()
    output = (tmp_path / "kimt.out").read_text()
    assert killed is not None, "the run ended before a worker could be killed\n" + output
    assert run.returncode == 0, output + cluster.log_tails()
    for user, _ in users:
        assert_same_mail(src, dst, user)  # identical: nothing lost, nothing twice
    report = report_of(output)
    section = report.split(f"=== {killed[0]}")[1].split("===")[0]
    assert f"moved from worker {killed[1]} " in section, section
    cluster.wait_for_workers(2)  # the nanny restarted it, for the tests after this one
    assert_no_secret(cluster.log_text(), secrets_of(users), "a scheduler or worker log")


def test_the_worker_wrapper_starts_dask_with_tls_and_no_secret(tmp_path):
    from kimt.cli_cluster import worker_command

    make_certs(tmp_path)
    command = worker_command("tls://10.0.0.5:8786", str(tmp_path), 3, "w9")
    assert command[1:3] == ["-m", "distributed.cli.dask_worker"]
    assert "--tls-ca-file" in command and "--nthreads" in command
    assert command[command.index("--nthreads") + 1] == "3"
    assert command[command.index("--tls-key") + 1].endswith("worker-key.pem")
    with pytest.raises(SettingsError):
        worker_command("tcp://10.0.0.5:8786", None, 3, None)


def test_ctrl_c_on_the_coordinator_stops_every_worker_and_a_rerun_finishes(
        cluster, dovecot_factory, tmp_path):
    src, dst = dovecot_factory(), dovecot_factory()
    users = users_with_mail(src, dst, 6, messages=150, size=8000)
    csv = write_csv(tmp_path / "users.csv", users)
    proxy = CountingProxy(src.port, delay=0.05)
    logs = tmp_path / "logs"
    args = cluster_args(cluster, src, dst, csv, logs, "--batch-mb", "0.1")
    args[args.index("--source-host") + 1] = f"127.0.0.1:{proxy.port}"
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **LEASES)
    try:
        with open(tmp_path / "kimt.out", "w") as out:
            run = subprocess.Popen([sys.executable, "-m", "kimt", *args], stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        try:
            deadline = time.monotonic() + RUN_TIMEOUT
            while run.poll() is None and not any(count(dst, u) >= 10 for u, _ in users):
                assert time.monotonic() < deadline
                time.sleep(0.3)
            run.send_signal(signal.SIGINT)
            run.wait(timeout=RUN_TIMEOUT)
        finally:
            if run.poll() is None:
                run.kill()
        output = (tmp_path / "kimt.out").read_text()
        assert run.returncode == 130, output
        assert "Stopped. Run the same command again to finish" in output
        report = report_of(output)
        assert "The run was stopped by the user." in report
        assert report.count("=== user") == 6
        assert sum(count(dst, u) for u, _ in users) < 6 * 150  # it did stop early
        again = kimt(*args, timeout=RUN_TIMEOUT, env=LEASES)
    finally:
        proxy.close()
    assert again.returncode == 0, again.stdout + again.stderr + cluster.log_tails()
    for user, _ in users:
        assert_same_mail(src, dst, user)
