"""\\Noselect parents stay what they were on the source (issue 13, point 10).

A parent that only holds the hierarchy on the source (`Archive` above
`Archive/2022`) must not become a real, empty folder on the destination:
KIMT creates the folders that hold mail and leaves the parents to the server,
which makes them itself. Dovecot keeps them \\Noselect. Cyrus 3 makes them real
folders, and a server that wants the parents first (a proxy before Dovecot
here) has them created explicitly: then the Report says so, parent by parent.
The source's parents are made with a bare CREATE of the child (the rigs'
`create_folder` creates every level as a real folder).
"""

from __future__ import annotations

import re

import pytest
from dovecot import Dovecot, make_message
from helpers import (
    PASSWORD,
    USER,
    assert_same_mail,
    kimt,
    mailbox_content,
    migrate_args,
    report_of,
    run_dir_of,
    write_csv,
)
from tcp_proxy import CommandProxy

NOSELECT_PARENTS = ("Archive", "L1", "L1/L2", "L1/L2/L3", "L1/L2/L3/L4", "Účty")
CHILDREN = ("Archive/2022", "Archive/2023", "L1/L2/L3/L4/L5", "Účty/Faktury 2023")
MADE_REAL = "the destination made this parent folder a real, empty folder"


def create_bare(server: Dovecot, user: str, logical: str) -> None:
    """CREATE the full name only: Dovecot leaves the missing parents \\Noselect."""
    m = server.connect(user)
    try:
        typ, data = m._simple_command("CREATE", f'"{server.server_name(logical)}"')
        assert typ == "OK", data
    finally:
        m.logout()


def is_real(flags: list[str]) -> bool:
    return not {"\\noselect", "\\nonexistent"} & {f.lower() for f in flags}


def seed_parents(src: Dovecot) -> int:
    """The issue's folders below \\Noselect parents, and `Projects`: a real, empty parent."""
    for folder in CHILDREN:
        create_bare(src, USER, folder)
        src.append(USER, folder, make_message(f"in {folder}"), ["\\Seen"])
    src.create_folder(USER, "Projects/2024")  # the rig: `Projects` a real folder too
    src.append(USER, "Projects/2024", make_message("plan"))
    listed = src.folders(USER)
    assert not any(is_real(listed[p]["flags"]) for p in NOSELECT_PARENTS), listed
    assert is_real(listed["Projects"]["flags"])
    return len(CHILDREN) + 1


def examined(proc) -> set[str]:
    """The folder names KIMT selected, from its Debug log."""
    debug = (run_dir_of(proc) / "debug.log").read_text(encoding="utf-8")
    return set(re.findall(r"EXAMINE '([^']*)'", debug))


@pytest.mark.parametrize("src_layout,dst_layout", [
    ({}, {}),
    ({}, {"separator": ".", "prefix": "INBOX."}),
    ({"separator": ".", "prefix": "INBOX."}, {"separator": ".", "prefix": "INBOX."}),
], ids=["slash-to-slash", "slash-to-courier", "courier-to-courier"])
def test_noselect_parents_stay_noselect(dovecot_factory, tmp_path, src_layout, dst_layout):
    src, dst = dovecot_factory(**src_layout), dovecot_factory(**dst_layout)
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    count = seed_parents(src)
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    args = migrate_args(src, dst, users, tmp_path / "logs")

    first = kimt(*args, check_rc=0)
    assert f"{count} copied, 0 already there, 0 skipped" in first.stdout
    assert_same_mail(src, dst, USER)
    folders = dst.folders(USER)
    for parent in NOSELECT_PARENTS:  # Dovecot makes the hierarchy, \Noselect
        assert parent in folders and not is_real(folders[parent]["flags"]), (parent, folders)
    assert is_real(folders["Projects"]["flags"])  # real and empty on the source: real here
    assert "Projects" in mailbox_content(dst, USER)
    assert MADE_REAL not in report_of(first)
    assert not {src.server_name(p) for p in NOSELECT_PARENTS} & examined(first)
    assert src.server_name("L1/L2/L3/L4/L5") in examined(first)

    second = kimt(*args, check_rc=0)
    assert f"0 copied, {count} already there, 0 skipped" in second.stdout
    assert dst.folders(USER) == folders
    assert_same_mail(src, dst, USER)


def test_dev_team_keeps_its_name_beside_dev_dot_team(dovecot_factory, tmp_path):
    src = dovecot_factory()
    dst = dovecot_factory(separator=".", prefix="INBOX.")
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    for folder in ("Lists/dev.team", "Lists/dev_team"):
        src.create_folder(USER, folder)
        src.append(USER, folder, make_message(f"from {folder}"))
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    args = migrate_args(src, dst, users, tmp_path / "logs")

    first = kimt(*args, check_rc=0)
    # the real one's mail in `dev_team`, the renamed one's in `dev_team (2)`
    assert_same_mail(src, dst, USER, rename={"Lists/dev.team": "Lists/dev_team (2)"})
    assert "renamed to 'Lists/dev_team (2)'" in report_of(first)

    second = kimt(*args, check_rc=0)
    assert "0 copied, 2 already there, 0 skipped" in second.stdout


@pytest.mark.slow
def test_cyrus_makes_the_parents_real_and_the_report_says_so(dovecot_factory, cyrus,
                                                              tmp_path):
    src = dovecot_factory()
    src.add_user(USER, PASSWORD)
    cyrus.add_user(USER, "x")
    count = seed_parents(src)
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    (tmp_path / "admin.pass").write_text(cyrus.admin_password + "\n")
    args = ["migrate", "--users", str(users), "--source-host", f"{src.host}:{src.port}",
            "--source-security", "none", "--target-host", f"{cyrus.host}:{cyrus.port}",
            "--target-security", "none", "--target-auth", "master", "--target-user",
            cyrus.admin_user, "--target-pass-file", str(tmp_path / "admin.pass"),
            "--log-dir", str(tmp_path / "logs")]

    first = kimt(*args, check_rc=0)
    assert f"{count} copied, 0 already there, 0 skipped" in first.stdout
    for folder in (*CHILDREN, "Projects/2024"):
        assert len(cyrus.messages(USER, folder)) == 1, folder
    report = report_of(first)
    for parent in NOSELECT_PARENTS:
        assert f"Note: {parent}: {MADE_REAL} (it has no mail on the old server)" in report
    assert "Note: Projects:" not in report  # a real folder on the source too

    second = kimt(*args, check_rc=0)
    assert f"0 copied, {count} already there, 0 skipped" in second.stdout
    assert MADE_REAL not in report_of(second)  # said once, when it happened


class ParentsFirstProxy(CommandProxy):
    """Before a Dovecot: refuses a CREATE whose parent is no real folder there yet, as a
    server that makes no hierarchy itself does; everything else passes through.

    A CREATE passed on counts as done for the commands after it, as the server would
    run them in order."""

    _CREATE = re.compile(rb'^(\S+) CREATE "((?:[^"\\]|\\.)*)"', re.IGNORECASE)

    def __init__(self, server: Dovecot, user: str):
        self.server, self.user = server, user
        self.refused: list[str] = []  # logical names
        self.passed: set[str] = set()  # CREATEs passed on: a server takes them in order
        super().__init__(server.port, server.host, name="parents-proxy")

    def answer(self, line: bytes) -> tuple[bytes, bool] | None:
        m = self._CREATE.match(line)
        if not m:
            return None
        name = re.sub(rb"\\(.)", rb"\1", m.group(2)).decode("ascii")
        logical = self.server.logical_name(name)
        if "/" not in logical:
            self.passed.add(logical)
            return None
        parent = logical.rsplit("/", 1)[0]
        if parent in self.passed:  # created by a command before this one (pipelined)
            self.passed.add(logical)
            return None
        listed = self.server.folders(self.user)
        if parent in listed and is_real(listed[parent]["flags"]):
            self.passed.add(logical)
            return None
        self.refused.append(logical)
        return m.group(1) + b" NO [NONEXISTENT] Create the parent folder first\r\n", False



def test_parents_are_created_when_the_server_wants_them_and_the_report_says_so(
        pair, tmp_path):
    src, dst = pair
    count = seed_parents(src)
    proxy = ParentsFirstProxy(dst, USER)
    try:
        users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
        args = migrate_args(src, dst, users, tmp_path / "logs")
        args[args.index("--target-port") + 1] = str(proxy.port)

        first = kimt(*args, check_rc=0)
        # All CREATEs go in one pipeline: both children of the missing 'Archive' are
        # refused, then tried again once 'Archive' is made.
        assert set(proxy.refused) == {"Archive/2022", "Archive/2023", "L1/L2/L3/L4/L5",
                                      "Účty/Faktury 2023"}
        assert f"{count} copied, 0 already there, 0 skipped" in first.stdout
        assert_same_mail(src, dst, USER)
        folders = dst.folders(USER)
        report = report_of(first)
        for parent in NOSELECT_PARENTS:  # created explicitly: real, and said so
            assert is_real(folders[parent]["flags"]), parent
            assert f"Note: {parent}: {MADE_REAL} (it has no mail on the old server)" in report
        assert "Problem:" not in report

        second = kimt(*args, check_rc=0)
        assert f"0 copied, {count} already there, 0 skipped" in second.stdout
        assert MADE_REAL not in report_of(second)
    finally:
        proxy.close()
