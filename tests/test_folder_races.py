"""A destination folder that someone else is creating at the same moment (tests/fake_wire.py).

Dovecot makes its special-use folders itself on first use (`auto = create`); two
connections opening two of them at once met in its list index, and the second
SELECT was answered `NO [ALREADYEXISTS] Mailbox already exists` (seen as a flaky
Gmail preset test under load). The folder is opened again, not reported as not
finished. A CREATE refused for a folder that the destination lists right after
(another client made it in between) is no problem either.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_wire import USER, FakeWire
from test_copy_policy import contents, fill, migrate, servers

from kimt.core.events import DONE
from kimt.core.wire import Refused


@pytest.fixture(autouse=True)
def private_lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))


def test_a_folder_the_destination_is_still_creating_is_opened_again(tmp_path):
    src, dst = servers()
    fill(src, "INBOX", 5)
    src.create("Junk")
    fill(src, "Junk", 3, start=10)
    opened = []

    def racing(wire: FakeWire, method: str) -> None:
        if method == "open_folder":
            opened.append(method)
            if len(opened) <= 2:  # the first two openings, whichever folder they are for
                raise Refused("[ALREADYEXISTS] Mailbox already exists.")

    dst.before_call = racing
    result = migrate(src, dst, tmp_path)
    assert result.state == DONE, (result.state, [f.error for f in result.folders])
    assert not result.failed_folders
    assert contents(dst) == contents(src)


def test_any_other_refusal_of_opening_a_folder_still_fails_that_folder(tmp_path):
    src, dst = servers()
    fill(src, "INBOX", 5)

    def refusing(wire: FakeWire, method: str) -> None:
        if method == "open_folder":
            raise Refused("[SERVERBUG] Internal error occurred.")

    dst.before_call = refusing
    result = migrate(src, dst, tmp_path)
    assert [f.error for f in result.failed_folders] == ["[SERVERBUG] Internal error occurred."]


def test_a_refused_create_whose_folder_is_there_afterwards_is_no_problem(tmp_path):
    src, dst = servers()
    fill(src, "INBOX", 2)
    src.create("Projects")
    fill(src, "Projects", 2, start=10)

    def made_by_another_client(name: str) -> bool:
        # The folder appears while KIMT's CREATE is refused without [ALREADYEXISTS].
        if name == "Projects":
            dst._new_folder(dst.mailbox(USER), name)
            return True
        return False

    dst.refuse_create(made_by_another_client, "Mailbox exists")
    result = migrate(src, dst, tmp_path)
    assert result.state == DONE, (result.folder_problems, result.failed_folders)
    assert not result.folder_problems
    assert contents(dst) == contents(src)
