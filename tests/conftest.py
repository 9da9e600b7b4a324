"""Shared pytest fixtures: real Dovecot servers on 127.0.0.1 (see tests/dovecot.py).

- ``dovecot_factory(**options) -> Dovecot``: a started instance per call; all of
  them are stopped and removed when the test ends (kept with KIMT_KEEP_DOVECOT=1).
  When the test failed, the tail of each instance's log is printed.
- ``src`` / ``dst``: two empty default instances ("/" separator, no prefix,
  special-use Sent/Drafts/Trash/Junk; on ``dst`` those four exist for every user).
  Tests add the users they need with ``add_user``.
- ``pair``: (src, dst) as above, with the user ``helpers.USER`` on both.
- ``cyrus``: a started, empty Cyrus IMAP 3.6 instance (tests/cyrus.py), removed
  when the test ends (kept with KIMT_KEEP_CYRUS=1), its log tail printed when the
  test failed; the test is skipped when this machine cannot run Cyrus (fails
  under CI, whose scripts/setup installs it).

Every test that needs this machine's test rig (Dovecot, Cyrus, Xvfb, the Linux build)
is marked ``rig`` automatically: the release workflow runs ``-m "not rig"`` on
Windows and macOS, where the rest (the unit tests) runs as it is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cyrus import Cyrus, cyrus_available  # noqa: E402
from dovecot import DEFAULT_SPECIAL_USE, Dovecot  # noqa: E402

# src, dst and every Dovecot server fixture build on dovecot_factory
RIG_FIXTURES = {"dovecot_factory", "cyrus"}
# the rigs themselves; the Linux download
RIG_MODULES = {"test_rig.py", "test_cyrus_rig.py", "test_frozen.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath))
        if (RIG_FIXTURES & set(item.fixturenames) or path.name in RIG_MODULES
                or path.parent.name == "gui"):
            item.add_marker(pytest.mark.rig)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"_kimt_rep_{rep.when}", rep)


@pytest.fixture(autouse=True)
def private_state_dir(tmp_path_factory, monkeypatch):
    """Each test gets its own state folder (the migration journal lives there): servers
    of different tests may share a port and a UIDVALIDITY, never a journal."""
    path = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(path))
    return path / "KIMT"


@pytest.fixture
def dovecot_factory(request):
    started: list[Dovecot] = []

    def make(**options) -> Dovecot:
        d = Dovecot(**options)
        started.append(d)
        return d.start()

    yield make

    rep = getattr(request.node, "_kimt_rep_call", None)
    failed = rep is not None and rep.failed
    for d in reversed(started):
        if failed and d.root is not None:
            print(f"\n----- {d!r}: last lines of {d.log_path.name} -----")
            print("\n".join(d.log_text().splitlines()[-40:]))
        d.cleanup()


@pytest.fixture
def cyrus(request):
    reason = cyrus_available()
    if reason:  # CI's setup installs it: there, a missing Cyrus is a failure
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"Cyrus IMAP: {reason}")
    c = Cyrus()
    try:
        c.start()
    except BaseException:
        c.cleanup()
        raise
    yield c
    rep = getattr(request.node, "_kimt_rep_call", None)
    if rep is not None and rep.failed and c.root is not None:
        print(f"\n----- {c!r}: last lines of its log -----")
        print("\n".join(c.log_text().splitlines()[-40:]))
    c.cleanup()


@pytest.fixture
def src(dovecot_factory) -> Dovecot:
    return dovecot_factory(special_use=DEFAULT_SPECIAL_USE)


@pytest.fixture
def dst(dovecot_factory) -> Dovecot:
    return dovecot_factory(special_use=DEFAULT_SPECIAL_USE, auto_create_special=True)


@pytest.fixture
def pair(dovecot_factory):
    """(src, dst): a default source and a destination with the special-use folders, both
    with the user `helpers.USER` (source password `helpers.PASSWORD`)."""
    from helpers import PASSWORD, USER

    src = dovecot_factory()
    dst = dovecot_factory(special_use=DEFAULT_SPECIAL_USE, auto_create_special=True)
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "Dst-Other-3k")
    return src, dst


@pytest.fixture
def kerio(dovecot_factory):
    """(src, dst, api, proxy): a Kerio Connect stand-in — the admin API test server
    creating users in `dst`, and the X-MASTERAUTH front before it."""
    from kerio_api import ADMIN, ADMIN_PW, MASTER_PW, KerioApiServer
    from masterauth_proxy import MasterAuthProxy

    src = dovecot_factory()
    dst = dovecot_factory(special_use=DEFAULT_SPECIAL_USE, auto_create_special=True)
    api = KerioApiServer(dst, (ADMIN, ADMIN_PW)).start()
    proxy = MasterAuthProxy(dst, MASTER_PW).start()
    yield src, dst, api, proxy
    proxy.stop()
    api.stop()
