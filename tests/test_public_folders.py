"""Public folders into a chosen mailbox (issue 12, part 6): `--public-into user@domain`.

The source Dovecot has a public namespace (`Public/`), which every login sees; the
chosen mailbox gets its folders under `Public Folders/`, the other mailboxes are not
told they were left out, and a re-run copies nothing, with the journal or without it.
The chosen user also has a folder of their own called `Public Folders/Announcements`:
the two never meet, on the destination or in the journal.
"""

from __future__ import annotations

from collections import Counter

from dovecot import PUBLIC_FOLDER, make_message
from helpers import PASSWORD, USER, assert_same_mail, kimt, migrate_args, report_of, write_csv

from kimt.core.folders import PUBLIC_FOLDERS, Layout

OTHER = ("other@example.com", "Other-Secret-1")


def content(server, user: str, folder: str) -> Counter:
    return Counter((m["sha256"], tuple(m["flags"])) for m in server.messages(user, folder))


def test_public_folders_go_into_the_chosen_mailbox_once(dovecot_factory, tmp_path):
    src = dovecot_factory(public_namespace=True)
    dst = dovecot_factory()
    for user, password in ((USER, PASSWORD), OTHER):
        src.add_user(user, password)
        dst.add_user(user, "x")
        src.append_many(user, "INBOX", [make_message(f"{user} {i}") for i in range(3)])
    public = f"Public/{PUBLIC_FOLDER}"
    src.append_many(USER, public, [make_message(f"news {i}") for i in range(4)])
    src.create_folder(USER, f"{public}/2019")
    src.append_many(USER, f"{public}/2019", [make_message(f"old news {i}") for i in range(2)])
    own = f"{PUBLIC_FOLDERS}/{PUBLIC_FOLDER}"  # the user's own folder of that name
    src.create_folder(USER, own)
    src.append(USER, own, make_message("my own notes"))
    csv = write_csv(tmp_path / "users.csv", [(USER, PASSWORD), OTHER])
    state = tmp_path / "state"

    def run(state_dir):
        return kimt(*migrate_args(src, dst, csv, tmp_path / "logs", "--public-into", USER,
                                  "--state-dir", str(state_dir)), check_rc=0)

    first = run(state)
    into = f"{PUBLIC_FOLDERS}/{PUBLIC_FOLDER} (2)"  # the user's own folder kept its name
    assert content(dst, USER, into) == content(src, USER, public)
    assert content(dst, USER, f"{into}/2019") == content(src, USER, f"{public}/2019")
    assert content(dst, USER, own) == content(src, USER, own)
    assert_same_mail(src, dst, USER)  # the user's own folders, as always
    assert_same_mail(src, dst, OTHER[0])
    assert not any(n.startswith(PUBLIC_FOLDERS) for n in dst.folders(OTHER[0]))
    report = report_of(first)
    assert f"Public folders of the source: copied into {USER} under 'Public Folders/'" in report
    assert f"Note: public folder '{public}' copied into this mailbox" in report
    assert "Shared/public folder not migrated" not in report  # nobody is told they were left
    assert f"'{public}' -> '{into}': 4 on the source, 4 copied" in report

    before = {n: content(dst, USER, n) for n in (into, f"{into}/2019", own)}
    for state_dir in (state, tmp_path / "no-journal"):  # with the journal, then without
        again = report_of(run(state_dir))
        assert "  Copied: 0 " in again, again
        assert {n: content(dst, USER, n) for n in before} == before


def test_without_the_option_public_folders_stay_listed(dovecot_factory, tmp_path):
    src = dovecot_factory(public_namespace=True)
    dst = dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    src.append(USER, f"Public/{PUBLIC_FOLDER}", make_message("news"))
    csv = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    report = report_of(kimt(*migrate_args(src, dst, csv, tmp_path / "logs"), check_rc=0))
    assert f"Shared/public folder not migrated: Public/{PUBLIC_FOLDER}" in report
    assert not any(n.startswith(PUBLIC_FOLDERS) for n in dst.folders(USER))


def test_the_mailbox_for_public_folders_must_be_migrated(dovecot_factory, tmp_path):
    src, dst = dovecot_factory(), dovecot_factory()
    csv = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    proc = kimt(*migrate_args(src, dst, csv, tmp_path / "logs", "--public-into",
                              "nobody@example.com"), check_rc=2)
    assert "nobody@example.com" in proc.stderr and "Traceback" not in proc.stderr


def test_public_names_sit_under_public_folders():
    layout = Layout("INBOX.", ".", ("Public.", "Other."), (("Public.", "."),))
    assert layout.public_parts("Public.News.2019") == (PUBLIC_FOLDERS, "News", "2019")
    assert layout.public_parts("Public") == ()  # the namespace itself: no folder
    assert layout.public_parts("Other.jane.INBOX") is None  # other users: not public
    assert layout.public_parts("INBOX.Public") is None
    assert layout.public_display("Public.News.2019") == "Public/News/2019"
