"""Folder choices end to end on Dovecot: --exclude-folder, --include-folder, --map-folder,
in the copy, the Report, a re-run, `verify` and `check`'s estimate."""

from __future__ import annotations

from dovecot import make_message
from helpers import (
    PASSWORD,
    USER,
    kimt,
    mailbox_content,
    migrate_args,
    report_of,
    write_csv,
)

FOLDERS = {"INBOX": 3, "Sent Items": 2, "Trash": 2, "Archive/2019": 4, "Archive/2020": 1,
           "Old Stuff": 2, "Old Stuff/Deep": 1, "Projects": 1, "Projects/Q1": 2}


def seed(src) -> None:
    for folder, count in FOLDERS.items():
        if folder != "INBOX":
            src.create_folder(USER, folder)
        src.append_many(USER, folder, [
            (make_message(f"{folder} {i}", body=f"{folder} body {i}\r\n"),
             ["\\Seen"] if i % 2 else [], "02-Mar-2022 08:00:00 +0200")
            for i in range(count)])


def test_exclude_and_map_copy_what_was_asked_and_rerun_copies_nothing(pair, tmp_path):
    src, dst = pair
    seed(src)
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    choices = ["--exclude-folder", "trash", "--exclude-folder", "Archive/2019",
               "--exclude-folder", "Nothing*",
               "--map-folder", "Old Stuff=Archive/Old", "--map-folder", "Sent Items=Sent Items"]
    first = kimt(*migrate_args(src, dst, users, tmp_path / "logs", *choices), check_rc=0)
    assert "12 copied, 0 already there, 0 skipped" in first.stdout

    copied = mailbox_content(dst, USER)
    source = mailbox_content(src, USER, rename={"Old Stuff": "Archive/Old",
                                                "Old Stuff/Deep": "Archive/Old/Deep"})
    for folder in ("INBOX", "Sent Items", "Archive/2020", "Archive/Old", "Archive/Old/Deep",
                   "Projects", "Projects/Q1"):
        assert copied[folder] == source[folder], folder  # message by message
    assert not copied["Trash"]  # the destination's own Trash, left empty
    assert "Archive/2019" not in copied and "Old Stuff" not in copied
    assert not copied["Sent"]  # the mapping won over the special-use mapping
    assert sum(sum(c.values()) for c in copied.values()) == 12

    report = report_of(first)
    assert "Folders left out: 'trash', 'Archive/2019', 'Nothing*'" in report
    assert ("Folders mapped: 'Old Stuff' -> 'Archive/Old', 'Sent Items' -> 'Sent Items'"
            in report)
    assert ("Folder not migrated: 'Archive/2019': left out by the folder choices "
            "('Archive/2019')") in report
    assert "Folder not migrated: 'Trash': left out by the folder choices ('trash')" in report
    assert "Note: the folder choice 'Nothing*' matches no folder here" in report
    assert "Old Stuff: copied into 'Archive/Old' as the folder choices say" in report
    assert "'Old Stuff/Deep' -> 'Archive/Old/Deep': 1 on the source, 1 copied" in report

    again = kimt(*migrate_args(src, dst, users, tmp_path / "logs", *choices), check_rc=0)
    assert "0 copied, 12 already there, 0 skipped" in again.stdout
    same = kimt(*migrate_args(src, dst, users, tmp_path / "logs", *choices,
                              command="verify"), check_rc=0)
    assert "12 of 12 there" in same.stdout


def test_include_copies_only_those_folders_and_check_estimates_them(pair, tmp_path):
    src, dst = pair
    seed(src)
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    check = kimt("check", "--users", str(users), "--source-host", f"{src.host}:{src.port}",
                 "--source-security", "none", "--include-folder", "Projects",
                 "--include-folder", "inbox", check_rc=0)
    assert f"ok {USER}: 3 folders, 6 messages" in check.stdout
    check = kimt("check", "--users", str(users), "--source-host", f"{src.host}:{src.port}",
                 "--source-security", "none", "--exclude-folder", "Archive", check_rc=0)
    assert f"ok {USER}: 7 folders, 13 messages" in check.stdout

    kimt(*migrate_args(src, dst, users, tmp_path / "logs", "--include-folder", "Projects",
                       "--include-folder", "inbox"), check_rc=0)
    copied = {name: c for name, c in mailbox_content(dst, USER).items() if c}
    assert set(copied) == {"INBOX", "Projects", "Projects/Q1"}
    source = mailbox_content(src, USER)
    assert all(copied[f] == source[f] for f in copied)


def test_a_bad_choice_is_a_clear_message_not_a_traceback(pair, tmp_path):
    src, dst = pair
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    for choice, words in (
            (["--map-folder", "Sent Items"], "kimt: --map-folder 'Sent Items' must be "
                                             "SOURCE=DESTINATION"),
            (["--exclude-folder", ""], "kimt: --exclude-folder is empty"),
            (["--map-folder", "A=X", "--map-folder", "B=x"],
             "kimt: --map-folder: two folders are mapped to 'x'")):
        proc = kimt(*migrate_args(src, dst, users, tmp_path / "logs", *choice), check_rc=2)
        assert words in proc.stderr
        assert "Traceback" not in proc.stderr
