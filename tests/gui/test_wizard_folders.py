"""The wizard's "Advanced: folders" window: a mistake said in it, the estimate and the run
following the choices, the choices remembered; the same run as the command line's."""

from __future__ import annotations

from pathlib import Path

from dovecot import make_message
from drive import press, pump, row, shot, text_of, to_users_page, until_result
from helpers import ADMIN_PASSWORD, mailbox_content, write_csv

from kimt.cli import build_parser, build_request
from kimt.core.accounts import read_accounts
from kimt.gui import settings as settings_store

JDOE, JDOE_PW = "jdoe@example.com", "Src-Secret-7x!"
FOLDERS = {"INBOX": 3, "Trash": 2, "Archive/2019": 4, "Archive/2020": 1, "Old Stuff": 2}


def put(text, lines: str) -> None:
    text.delete("1.0", "end")
    text.insert("1.0", lines)


def test_folder_choices_in_the_wizard(wizard, src, dst, tmp_path, screenshots):
    w = wizard
    src.add_user(JDOE, JDOE_PW)
    dst.add_user(JDOE, "x")
    for folder, count in FOLDERS.items():
        if folder != "INBOX":
            src.create_folder(JDOE, folder)
        src.append_many(JDOE, folder, [make_message(f"{folder} {i}") for i in range(count)])
    users = write_csv(tmp_path / "u.csv", [(JDOE, JDOE_PW, "John")])
    to_users_page(w, src, dst, users, workers=1)
    page = w.users_page
    assert text_of(page.folders_label) == "Folders: all"
    press(w, page.estimate_button)
    pump(w, lambda: "Estimate:" in text_of(page.survey_label), what="the first estimate")
    assert row(page.table.tree, "0")["messages"] == "12"

    press(w, page.folders_button)
    dialog = page.folder_dialog
    assert dialog is not None and dialog.winfo_viewable()
    put(dialog.exclude, "Trash\nArchive/2019\n")
    put(dialog.maps, "Old Stuff=Archive/Old\nOld Stuff")  # a line without '='
    press(w, dialog.ok_button)
    assert dialog.winfo_exists(), "a mistake keeps the window open"
    assert text_of(dialog.error).startswith("Put elsewhere 'Old Stuff' must be "
                                            "SOURCE=DESTINATION")
    shot(w, screenshots, "4-users-folders", window=dialog)
    put(dialog.maps, "Old Stuff=Archive/Old\n\n")
    press(w, dialog.ok_button)
    assert not dialog.winfo_exists() and page.folder_dialog is None
    assert text_of(page.folders_label) == "Folders: 2 left out, 1 put elsewhere"
    assert row(page.table.tree, "0")["messages"] == ""  # counted under the old choices: dropped
    assert "press Estimate again" in text_of(page.survey_label)

    press(w, page.estimate_button)
    pump(w, lambda: "Estimate:" in text_of(page.survey_label), what="the second estimate")
    assert row(page.table.tree, "0")["messages"] == "6"  # INBOX 3, Archive/2020 1, Old Stuff 2
    assert row(page.table.tree, "0")["folders"] == "4"  # and Archive itself, empty
    shot(w, screenshots, "4-users-folders-estimate")

    # the run the wizard builds is the command line's with the same choices
    pass_file = tmp_path / "admin.pass"
    pass_file.write_text(ADMIN_PASSWORD + "\n")
    args = build_parser().parse_args([
        "migrate", "--users", str(users), "--source-host", f"{src.host}:{src.port}",
        "--source-security", "none", "--target-host", f"{dst.host}:{dst.port}",
        "--target-security", "none", "--target-auth", "master", "--target-user", "admin",
        "--target-pass-file", str(pass_file), "--workers", "1",
        "--exclude-folder", "Trash", "--exclude-folder", "Archive/2019",
        "--map-folder", "Old Stuff=Archive/Old"])
    accounts = read_accounts(str(users))
    from_cli = build_request(args, accounts, list(accounts.accounts), False)
    assert w.build_request(page.selected(), 1).settings == from_cli.settings

    press(w, w.next_button)
    until_result(w)
    copied = {name: sum(c.values()) for name, c in mailbox_content(dst, JDOE).items() if c}
    assert copied == {"INBOX": 3, "Archive/2020": 1, "Archive/Old": 2}
    report = Path(w.result_page.finished.report_path).read_text(encoding="utf-8")
    assert "Folder not migrated: 'Trash': left out by the folder choices ('Trash')" in report

    w.save_settings()
    saved = settings_store.load()
    assert (saved.exclude_folders, saved.map_folders) == (["Trash", "Archive/2019"],
                                                          ["Old Stuff=Archive/Old"])
