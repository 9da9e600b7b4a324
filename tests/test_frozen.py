"""The Linux download as an admin gets it: built, unpacked, run without Python.

One archive per test session, made by the documented command
(installers/linux/build.sh, about a minute on 2 cores; KIMT_FROZEN_ARCHIVE=FILE
tests an archive built before instead). It is unpacked into an empty folder
outside the repository whose path has a space in it, and every program runs
with a bare environment: no PYTHONPATH, no virtualenv, and a PATH with no
programs on it at all. The headless migration runs over implicit TLS with
pinned certificates and two spawned worker processes, which in a frozen app are
the `kimt` executable itself; servers with certificates of a company's own CA
are refused, then trusted once the CA is in the (process's own) system store,
through the frozen truststore; the wizard is started under X and photographed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from dovecot import make_message
from helpers import ADMIN_PASSWORD, ROOT, assert_same_mail, report_of, write_csv
from PIL import Image, ImageGrab
from private_ca import CA_NAME, PrivateCA, fingerprint, serve
from xserver import x_display  # noqa: F401  (a fixture)

from kimt import __version__

pytestmark = pytest.mark.slow

ARCHIVE_DIR = f"kimt-{__version__}-linux-x86_64"
TITLE = "KIMT — mail migration"
USERS = [("ann@example.com", "Ann-Pass-1!", "Ann Example"),
         ("bob@example.com", "Bob-Pass-2?", "Bob Example"),
         ("cyril@example.cz", "Cyril-Pass-3#", "Cyril Novák")]


@pytest.fixture(scope="session")
def archive() -> Path:
    chosen = os.environ.get("KIMT_FROZEN_ARCHIVE")
    if chosen:
        return Path(chosen).resolve()
    started = time.monotonic()
    proc = subprocess.run([str(ROOT / "installers" / "linux" / "build.sh")], cwd=ROOT,
                          capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"build.sh failed\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    built = Path(proc.stdout.strip().splitlines()[-1].split(" (")[0])
    print(f"\nbuilt {built} in {time.monotonic() - started:.0f} s")
    return built


@pytest.fixture(scope="session")
def unpacked(archive, tmp_path_factory) -> Path:
    """The archive unpacked with tar, as a user would, into an empty folder."""
    where = tmp_path_factory.mktemp("download") / "My Programs"
    where.mkdir()
    assert ROOT not in where.parents
    subprocess.run(["tar", "xzf", str(archive)], cwd=where, check=True)
    assert [p.name for p in where.iterdir()] == [ARCHIVE_DIR]
    return where / ARCHIVE_DIR


@pytest.fixture
def bare_env(tmp_path) -> dict[str, str]:
    """What a fresh login has, minus every program: proof that nothing outside is used."""
    home = tmp_path / "home"
    (home / "runtime").mkdir(parents=True, mode=0o700)
    no_programs = tmp_path / "no-programs"
    no_programs.mkdir()
    env = {"HOME": str(home), "PATH": str(no_programs), "LANG": "C.UTF-8",
           "XDG_RUNTIME_DIR": str(home / "runtime"), "USER": "kimt-test"}
    return env


def run(unpacked: Path, env: dict, *args: str, timeout: float = 180,
        ) -> subprocess.CompletedProcess:
    return subprocess.run(["./kimt", *args], cwd=unpacked, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_archive_is_one_folder_with_the_bundle_the_menu_entry_and_a_readme(archive):
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert {name.split("/")[0] for name in members} == {ARCHIVE_DIR}
    for needed in ("kimt", "install.sh", "kimt.desktop", "README.txt", "icons/kimt-48.png",
                   "_internal/certifi/cacert.pem", "_internal/chardet/models/models.bin",
                   "_internal/kimt/gui/icon.png", "_internal/ttkbootstrap/assets"):
        assert f"{ARCHIVE_DIR}/{needed}" in members, f"{needed} is not in the archive"
    for program in ("kimt", "install.sh"):
        assert members[f"{ARCHIVE_DIR}/{program}"].mode & 0o111, f"{program} is not executable"
        assert members[f"{ARCHIVE_DIR}/{program}"].uid == 0
    size = archive.stat().st_size
    print(f"\n{archive.name}: {size / 1e6:.1f} MB")
    assert size < 40e6, f"the download grew to {size / 1e6:.0f} MB"


def test_version_and_help_run_without_python(unpacked, bare_env):
    assert run(unpacked, bare_env, "--version").stdout.strip() == f"KIMT {__version__}"
    usage = run(unpacked, bare_env, "migrate", "--help")
    assert usage.returncode == 0 and "--source-fingerprint" in usage.stdout


def test_users_file_encoding_is_detected_by_the_frozen_chardet(unpacked, bare_env, tmp_path):
    users = write_csv(tmp_path / "users.csv", USERS, encoding="cp1250")
    proc = run(unpacked, bare_env, "check-csv", str(users))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 users, 0 problems (encoding cp1250" in proc.stdout


def test_headless_migrate_over_tls_with_worker_processes(unpacked, bare_env, src, dst,
                                                         tmp_path):
    for n, (email, password, _) in enumerate(USERS):
        src.add_user(email, password)
        dst.add_user(email, "Dst-Unused-9")
        src.create_folder(email, "Účty/Faktury 2023")
        src.append_many(email, "INBOX", [
            (make_message(f"{email} message {i}", size=2_000 + 700 * i),
             ["\\Seen"] if i % 2 else [])
            for i in range(15 + 5 * n)])
        src.append(email, "Účty/Faktury 2023", make_message("Faktura č. 1"), ["\\Flagged"],
                   "05-Jan-2023 09:00:00 +0100")
    users = write_csv(tmp_path / "users.csv", USERS)
    admin = tmp_path / "admin.pass"
    admin.write_text(ADMIN_PASSWORD + "\n")
    admin.chmod(0o600)
    logs = tmp_path / "logs"
    args = ["migrate", "--users", str(users),
            "--source-host", f"127.0.0.1:{src.ssl_port}", "--source-security", "ssl",
            "--source-fingerprint", src.fingerprint,
            "--target-host", f"127.0.0.1:{dst.ssl_port}", "--target-security", "ssl",
            "--target-fingerprint", dst.fingerprint,
            "--target-auth", "master", "--target-user", "admin",
            "--target-pass-file", str(admin), "--workers", "2", "--log-dir", str(logs)]
    started = time.monotonic()
    proc = run(unpacked, bare_env, *args)
    took = time.monotonic() - started
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    for email, _, _ in USERS:
        assert_same_mail(src, dst, email)
    report = report_of(proc)
    assert f"certificate pinned to {src.fingerprint}" in report
    assert f"certificate pinned to {dst.fingerprint}" in report
    debug = next(logs.glob("*/debug.log")).read_text(encoding="utf-8")
    assert ADMIN_PASSWORD not in debug and ADMIN_PASSWORD not in report
    for email, _, _ in USERS:  # written by each mailbox's worker process when it is done
        assert f"kimt.worker [{email}]: worker peak memory" in debug, debug[-2000:]
    print(f"\nfrozen migrate: 3 mailboxes, 2 workers, {took:.1f} s")

    # The journal (SQLite, in the user's state folder) works in the frozen app too:
    # a re-run finds every folder unchanged.
    journals = list((Path(bare_env["HOME"]) / ".local/state/KIMT").glob("journal-*.sqlite3"))
    assert len(journals) == 1, journals
    again = run(unpacked, bare_env, *args)
    assert again.returncode == 0, f"exit {again.returncode}\n{again.stdout}\n{again.stderr}"
    assert "Copied: 0 " in again.stdout
    assert report_of(again).count("Folders: 3 (3 unchanged since the last run)") == len(USERS)

    again = run(unpacked, bare_env, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    for email, _, _ in USERS:
        assert_same_mail(src, dst, email)  # nothing doubled by the re-run


def test_programs_kimt_starts_do_not_get_its_bundled_libraries(unpacked, bare_env, src, dst,
                                                              tmp_path):
    email, password, name = USERS[0]
    src.add_user(email, password)
    dst.add_user(email, "Dst-Unused-9")
    users = write_csv(tmp_path / "users.csv", [(email, "unused", name)])
    admin = tmp_path / "admin.pass"
    admin.write_text(ADMIN_PASSWORD + "\n")
    seen = tmp_path / "token-command-env.txt"
    # a worker process (the frozen executable) runs the admin's token command
    proc = run(unpacked, bare_env, "migrate", "--users", str(users),
               "--source-host", f"127.0.0.1:{src.port}", "--source-security", "none",
               "--source-auth", "xoauth2",
               "--oauth-token-command", f"/bin/sh -c '/usr/bin/env > {seen}; exit 1'",
               "--target-host", f"127.0.0.1:{dst.port}", "--target-security", "none",
               "--target-auth", "master", "--target-user", "admin",
               "--target-pass-file", str(admin), "--log-dir", str(tmp_path / "logs"))
    assert proc.returncode == 1 and "gave no token" in proc.stdout, proc.stdout + proc.stderr
    env = dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)
    assert env["KIMT_OAUTH_EMAIL"] == email
    assert "LD_LIBRARY_PATH" not in env, "a program started by KIMT loads KIMT's libraries"
    assert not [key for key in env if key.startswith("_PYI_")]


def test_a_company_ca_in_the_system_store_is_trusted_frozen(unpacked, bare_env, src, dst,
                                                            tmp_path):
    email, password, name = USERS[0]
    src.add_user(email, password)
    dst.add_user(email, "Dst-Unused-9")
    src.append(email, "INBOX", make_message("over TLS, trusted by the company's CA"))
    company = PrivateCA(tmp_path / "company-ca")
    serve(src, *company.issue("source"))
    serve(dst, *company.issue("destination"))
    users = write_csv(tmp_path / "users.csv", [(email, password, name)])
    check = ["check", "--users", str(users), "--source-host", f"127.0.0.1:{src.ssl_port}",
             "--source-security", "ssl", "--no-estimate"]

    # The machine's store has no such CA: refused, naming it, with the fingerprint.
    proc = run(unpacked, bare_env, *check)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert (f"answered, but its certificate was refused: it is issued by “{CA_NAME}”, not an "
            f"authority this computer trusts. Its fingerprint is {fingerprint(src.cert_path)}"
            ) in proc.stderr, proc.stderr

    store = dict(bare_env, **company.store(tmp_path / "store"))
    proc = run(unpacked, store, *check)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"Connected to 127.0.0.1:{src.ssl_port} (SSL/TLS), "
                                  "certificate valid"), proc.stdout
    admin = tmp_path / "admin.pass"
    admin.write_text(ADMIN_PASSWORD + "\n")
    admin.chmod(0o600)
    proc = run(unpacked, store, "migrate", "--users", str(users),
               "--source-host", f"127.0.0.1:{src.ssl_port}", "--source-security", "ssl",
               "--target-host", f"127.0.0.1:{dst.port}", "--target-security", "starttls",
               "--target-auth", "master", "--target-user", "admin",
               "--target-pass-file", str(admin), "--workers", "2",
               "--log-dir", str(tmp_path / "logs"))
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert_same_mail(src, dst, email)
    assert report_of(proc).count(
        "certificate verified against the authorities this computer trusts") == 2


@pytest.fixture
def display(x_display) -> str:  # noqa: F811
    """The X server of the GUI tests (tests/xserver.py)."""
    return x_display


def xdotool(display: str, *args: str, timeout: float = 60) -> str:
    proc = subprocess.run(["xdotool", *args], env=dict(os.environ, DISPLAY=display),
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"xdotool {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def test_without_a_desktop_the_wizard_says_what_to_do(unpacked, bare_env):
    proc = run(unpacked, bare_env)  # no DISPLAY: an SSH session on a server
    assert proc.returncode == 2
    assert "the wizard can't open a window here" in proc.stderr
    assert "kimt migrate --help" in proc.stderr and "Traceback" not in proc.stderr


def test_the_wizard_starts_from_the_download(unpacked, bare_env, display, tmp_path):
    env = dict(bare_env, DISPLAY=display)
    if os.environ.get("XAUTHORITY"):  # xvfb-run's X server wants its cookie, as a desktop's does
        env["XAUTHORITY"] = os.environ["XAUTHORITY"]
    started = time.monotonic()
    app = subprocess.Popen(["./kimt"], cwd=unpacked, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        window = _wait_for_window(display, app)
        mapped = time.monotonic() - started
        print(f"\nfrozen wizard window mapped {mapped:.2f} s after start")
        # the menu entry's StartupWMClass names this window's class
        wm_class = next(line.split("=", 1)[1] for line in
                        (unpacked / "kimt.desktop").read_text().splitlines()
                        if line.startswith("StartupWMClass="))
        assert window in xdotool(display, "search", "--class", f"^{wm_class}$").split()
        geometry = dict(line.split("=") for line in
                        xdotool(display, "getwindowgeometry", "--shell", window).split())
        x, y, w, h = (int(geometry[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
        shot = _settled_screenshot(display, (x, y, x + w, y + h))
        folder = Path(os.environ.get("KIMT_SCREENSHOTS") or tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        shot.save(folder / "frozen-wizard.png")
        print(f"screenshot: {folder / 'frozen-wizard.png'}")
        assert app.poll() is None, app.stdout.read()
        colours = shot.getcolors(maxcolors=100_000) or []
        assert len(colours) > 50, "the window is (nearly) blank"
        assert max(n for n, _ in colours) < 0.9 * w * h, "the window is (nearly) one colour"
    finally:
        app.terminate()
        out, _ = app.communicate(timeout=20)
    assert f"KIMT started (pid {app.pid})" in out, out
    assert "Traceback" not in out, out


def _wait_for_window(display: str, app: subprocess.Popen, timeout: float = 60) -> str:
    """The wizard's window id, as soon as it is mapped (polled: xdotool's --sync
    would wait out its whole time when the app has died)."""
    env = dict(os.environ, DISPLAY=display)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert app.poll() is None, f"kimt exited {app.returncode}:\n{app.stdout.read()}"
        # xdotool's regex is not UTF-8 aware: match the title around its dash
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name",
                                "^KIMT .* mail migration$"],
                               env=env, capture_output=True, text=True, timeout=10)
        if found.returncode == 0 and found.stdout.split():
            return found.stdout.split()[0]
        time.sleep(0.02)
    raise AssertionError(f"no window titled {TITLE!r} after {timeout} s")


def _settled_screenshot(display: str, box: tuple[int, int, int, int]) -> Image.Image:
    """Grab until two grabs in a row agree: the first frames may still be drawing."""
    last = ImageGrab.grab(bbox=box, xdisplay=display)
    for _ in range(40):
        time.sleep(0.25)
        shot = ImageGrab.grab(bbox=box, xdisplay=display)
        if shot.tobytes() == last.tobytes():
            return shot
        last = shot
    return last


def test_install_sh_adds_and_removes_the_menu_entry(unpacked, bare_env, tmp_path):
    home = Path(bare_env["HOME"])
    env = dict(bare_env, PATH="/usr/bin:/bin")  # install.sh is a shell script: sh, cp, sed
    proc = subprocess.run(["./install.sh"], cwd=unpacked, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    entry = home / ".local/share/applications/kimt.desktop"
    fields = dict(line.split("=", 1) for line in entry.read_text().splitlines() if "=" in line)
    assert fields["Exec"] == f'"{unpacked}/kimt"' and fields["TryExec"] == f"{unpacked}/kimt"
    assert fields["Icon"] == "kimt" and fields["Type"] == "Application"
    for px in (16, 48, 256, 512):
        icon = home / f".local/share/icons/hicolor/{px}x{px}/apps/kimt.png"
        assert Image.open(icon).size == (px, px)
    # what the menu runs, started the way the desktop does it (the path has a space)
    command = shlex.split(fields["Exec"])
    started = subprocess.run([*command, "--version"], env=bare_env, capture_output=True,
                             text=True, timeout=60)
    assert started.stdout.strip() == f"KIMT {__version__}"
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True,
                               text=True)
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout

    proc = subprocess.run(["./install.sh", "--uninstall"], cwd=unpacked, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not entry.exists()
    assert not list((home / ".local/share/icons").rglob("kimt.png"))
