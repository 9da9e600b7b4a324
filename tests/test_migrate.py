"""`kimt migrate` end to end against two real Dovecot servers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from dovecot import make_message
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

USER2, PASSWORD2 = "anna@example.com", "Anna-Pass-9q?"


def seed_rich_mailbox(src, user=USER):
    """Folders of every kind the issue names, messages with flags and zoned dates."""
    src.create_folder(user, "Sent Items")
    src.create_folder(user, "Drafts")
    src.create_folder(user, "Účty/Faktury 2023")
    src.create_folder(user, "Tom & Jerry")
    src.create_folder(user, "Empty")
    src.create_folder(user, "Projects/2024/Q1")
    src.create_folder(user, "Unsubscribed", subscribe=False)
    src.append(user, "INBOX", make_message("Hello", body="first\r\n"),
               ["\\Seen", "$Forwarded"], "01-Feb-2023 10:20:30 +0100")
    src.append(user, "INBOX", make_message("Flagged one", body="second\r\n"),
               ["\\Flagged", "\\Answered", "Custom_Keyword"], "15-Jul-2021 23:59:59 -0700")
    src.append(user, "INBOX", make_message("Unread", body="third\r\n"), [],
               "31-Dec-2019 00:00:01 +0000")
    src.append(user, "Sent Items", make_message("I wrote this", body="sent\r\n"), ["\\Seen"],
               "02-Mar-2022 08:00:00 +0200")
    src.append(user, "Drafts", make_message("Draft", body="draft\r\n"), ["\\Draft"])
    src.append(user, "Účty/Faktury 2023", make_message("Faktura č. 1", body="Dobrý den\r\n"),
               ["\\Seen"], "05-Jan-2023 09:00:00 +0100")
    src.append(user, "Tom & Jerry", make_message("Cartoon"), ["\\Deleted"])
    src.append(user, "Projects/2024/Q1", make_message("Deep"), ["\\Seen"])
    src.append(user, "Unsubscribed", make_message("Quiet"))


def test_migrate_then_rerun_copies_nothing(pair, tmp_path):
    src, dst = pair
    seed_rich_mailbox(src)
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD, "John Doe")])
    before = src.snapshot(USER, hash=True)

    first = kimt(*migrate_args(src, dst, users, tmp_path / "logs"), check_rc=0)
    assert "9 copied, 0 already there, 0 skipped" in first.stdout
    assert "Every message is on the destination." in first.stdout
    assert_same_mail(src, dst, USER, rename={"Sent Items": "Sent"})

    folders = dst.folders(USER)
    assert "Sent Items" not in folders  # went into the destination's \Sent folder
    for name in ("Účty/Faktury 2023", "Tom & Jerry", "Empty", "Projects/2024/Q1"):
        assert name in folders and folders[name]["subscribed"], name
    assert not folders["Unsubscribed"]["subscribed"]
    assert src.snapshot(USER, hash=True) == before  # the source was only read

    report = report_of(first)
    assert "Verdict: all 9 messages are on the destination." in report
    assert "Sent folder: copied into the destination's 'Sent'" in report

    second = kimt(*migrate_args(src, dst, users, tmp_path / "logs"), check_rc=0)
    assert "0 copied, 9 already there, 0 skipped" in second.stdout
    assert_same_mail(src, dst, USER, rename={"Sent Items": "Sent"})
    assert src.snapshot(USER, hash=True) == before
    assert "Verdict: all 9 messages are on the destination." in report_of(second)


def test_logs_hold_no_password_and_report_is_private(pair, tmp_path):
    src, dst = pair
    src.append(USER, "INBOX", make_message("Secret body test", body="BODY-MARKER-42\r\n"))
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD, "John Doe")])
    proc = kimt(*migrate_args(src, dst, users, tmp_path / "logs"), check_rc=0)
    run = run_dir_of(proc)
    assert run.parent == tmp_path / "logs"
    assert len(run.name) == 15 and run.name[8] == "_"  # MMDDYYYY_HHMMSS
    for name in ("report.log", "debug.log"):
        text = (run / name).read_text(encoding="utf-8")
        assert text.strip()
        for secret in (PASSWORD, "adminpass", "BODY-MARKER-42"):
            assert secret not in text, f"{secret!r} found in {name}"
        assert (run / name).stat().st_mode & 0o077 == 0, f"{name} readable by others"
    assert PASSWORD not in proc.stdout + proc.stderr
    assert "EXAMINE" in (run / "debug.log").read_text() or "folder 'INBOX'" in (
        run / "debug.log").read_text()


@pytest.mark.parametrize("src_layout,dst_layout", [
    ({"separator": ".", "prefix": "INBOX."}, {"separator": "/", "prefix": ""}),
    ({"separator": "/", "prefix": ""}, {"separator": ".", "prefix": "INBOX."}),
])
def test_delimiter_and_prefix_are_translated(dovecot_factory, tmp_path, src_layout, dst_layout):
    src = dovecot_factory(**src_layout)
    dst = dovecot_factory(**dst_layout)
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    for folder in ("Účty/Faktury 2023", "Tom & Jerry", "a/b/c"):
        src.create_folder(USER, folder)
        src.append(USER, folder, make_message(f"in {folder}"), ["\\Seen"])
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    kimt(*migrate_args(src, dst, users, tmp_path / "logs"), check_rc=0)
    assert_same_mail(src, dst, USER)
    assert {"Účty/Faktury 2023", "Tom & Jerry", "a/b/c"} <= set(dst.folders(USER))


def test_identical_messages_and_existing_destination_mail(pair, tmp_path):
    src, dst = pair
    twin = make_message("Same", msgid="<twin@example.com>", body="identical\r\n")
    draft_a = make_message("Note", msgid=None, body="version A\r\n",
                           date="Mon, 01 May 2023 10:00:00 +0000")
    draft_b = make_message("Note", msgid=None, body="version B, longer\r\n",
                           date="Mon, 01 May 2023 10:00:00 +0000")
    for raw in (twin, twin, draft_a, draft_b):
        src.append(USER, "INBOX", raw)
    # Already on the destination: one of the twins, draft B, and mail the source never had.
    dst.append(USER, "INBOX", twin)
    dst.append(USER, "INBOX", draft_b)
    dst.append(USER, "INBOX", make_message("Only on the destination"))
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])

    first = kimt(*migrate_args(src, dst, users, tmp_path / "logs"), check_rc=0)
    assert "2 copied, 2 already there" in first.stdout
    kimt(*migrate_args(src, dst, users, tmp_path / "logs"), check_rc=0)
    content = mailbox_content(dst, USER)["INBOX"]
    src_content = mailbox_content(src, USER)["INBOX"]
    # By body only: the twins were appended without a date, so their INTERNALDATEs
    # differ when the appends straddle a second.
    dst_by_sha, src_by_sha = Counter(), Counter()
    for (sha, _flags, _date), n in content.items():
        dst_by_sha[sha] += n
    for (sha, _flags, _date), n in src_content.items():
        src_by_sha[sha] += n
    for sha, n in src_by_sha.items():
        assert dst_by_sha[sha] == n, "each source message exactly as often as on the source"
    assert sum(content.values()) == 5  # 4 from the source + the destination's own


def test_refused_message_is_listed_and_the_rest_goes_on(dovecot_factory, tmp_path):
    src = dovecot_factory()
    dst = dovecot_factory(quota_max_mail_size="1M")
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    src.append(USER, "INBOX", make_message("small before"))
    src.append(USER, "INBOX", make_message("Huge attachment", size=2_000_000),
               internaldate="03-Apr-2023 12:00:00 +0200")
    src.append(USER, "INBOX", make_message("small after"))
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    proc = kimt(*migrate_args(src, dst, users, tmp_path / "logs"), check_rc=1)
    assert "2 copied, 0 already there, 1 skipped" in proc.stdout
    report = report_of(proc)
    assert "Skipped messages (1):" in report
    line = next(ln for ln in report.splitlines() if "Huge attachment" in ln)
    assert "'INBOX'" in line and "MB" in line and "maximum size allowed" in line
    assert "secs)" not in line  # Dovecot's timing noise is trimmed
    assert len(dst.messages(USER, "INBOX")) == 2


def test_verify_reports_missing_then_complete(pair, tmp_path):
    src, dst = pair
    for i in range(3):
        src.append(USER, "INBOX", make_message(f"m{i}"))
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    before = kimt(*migrate_args(src, dst, users, tmp_path / "logs", command="verify"),
                  check_rc=1)
    assert "3 missing" in report_of(before)
    assert dst.messages(USER, "INBOX") == []  # verify copied nothing
    kimt(*migrate_args(src, dst, users, tmp_path / "logs"), check_rc=0)
    after = kimt(*migrate_args(src, dst, users, tmp_path / "logs", command="verify"),
                 check_rc=0)
    assert "Missing on the destination: 0" in after.stdout


def test_failed_login_fails_that_user_only(dovecot_factory, tmp_path):
    src = dovecot_factory()
    dst = dovecot_factory()
    src.add_user(USER, PASSWORD)
    src.add_user(USER2, PASSWORD2)
    for u in (USER, USER2):
        dst.add_user(u, "x")
        src.append(u, "INBOX", make_message(f"for {u}"))
    users = write_csv(tmp_path / "users.csv", [(USER, "wrong-password"), (USER2, PASSWORD2)])
    proc = kimt(*migrate_args(src, dst, users, tmp_path / "logs"), check_rc=1)
    assert f"login failed for {USER} on {src.host}" in proc.stdout
    assert len(dst.messages(USER2, "INBOX")) == 1
    assert dst.messages(USER, "INBOX") == []
    assert "wrong-password" not in report_of(proc)
    # One attempt only: retrying a refused password could lock the account.
    assert src.log_text().count(f"passwd-file({USER},") == 1


def test_wrong_admin_password_stops_before_copying(pair, tmp_path):
    src, dst = pair
    src.append(USER, "INBOX", make_message("x"))
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    bad = tmp_path / "bad.pass"
    bad.write_text("not-the-admin-password\n")
    proc = kimt(*migrate_args(src, dst, users, tmp_path / "logs", pass_file=bad), check_rc=3)
    assert "refused the admin login \"admin\"" in proc.stderr
    assert dst.messages(USER, "INBOX") == []
    assert "not-the-admin-password" not in proc.stderr


def test_user_login_with_fourth_column_and_separator_master(pair, tmp_path):
    src, dst = pair
    src.append(USER, "INBOX", make_message("via user login"))
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD, "John", "Dst-Other-3k")])
    args = migrate_args(src, dst, users, tmp_path / "logs")
    i = args.index("--target-auth")
    user_args = args[:i] + ["--target-auth", "user"] + args[i + 6:]
    kimt(*user_args, check_rc=0)
    assert len(dst.messages(USER, "INBOX")) == 1
    src.append(USER, "INBOX", make_message("via separator master"))
    kimt(*args, "--target-master-style", "separator", check_rc=0)
    assert len(dst.messages(USER, "INBOX")) == 2


def test_tls_fingerprint_and_refusal(pair, tmp_path):
    src, dst = pair
    src.append(USER, "INBOX", make_message("over TLS"))
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    args = migrate_args(src, dst, users, tmp_path / "logs")
    i = args.index("--source-host")
    tls_args = args[:i] + ["--source-host", f"127.0.0.1:{src.ssl_port}",
                           "--source-security", "ssl"] + args[i + 4:]
    refused = kimt(*tls_args, check_rc=3)
    assert src.fingerprint in refused.stderr  # shows what the server presented
    assert "--source-fingerprint" in refused.stderr
    kimt(*tls_args, "--source-fingerprint", src.fingerprint, check_rc=0)
    assert len(dst.messages(USER, "INBOX")) == 1
    wrong = "SHA256:" + ":".join(["AB"] * 32)
    mismatch = kimt(*tls_args, "--source-fingerprint", wrong, check_rc=3)
    assert "not the trusted" in mismatch.stderr and src.fingerprint in mismatch.stderr
    # STARTTLS on the plain port, pinned too.
    j = args.index("--target-security")
    starttls = args[:j] + ["--target-security", "starttls", "--target-fingerprint",
                           dst.fingerprint] + args[j + 2:]
    kimt(*starttls, check_rc=0)


def test_shared_namespace_is_skipped_and_reported(dovecot_factory, tmp_path):
    src = dovecot_factory(public_namespace=True)
    dst = dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    src.append(USER, "INBOX", make_message("mine"))
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    proc = kimt(*migrate_args(src, dst, users, tmp_path / "logs"), check_rc=0)
    assert "Shared/public folder not migrated: Public" in report_of(proc)
    assert not any(name.startswith("Public") for name in dst.folders(USER))


def test_check_csv_reports_lines(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("# comment\njdoe@example.com;pw;John\nbroken-line\n"
                    "anna@example.com;;Anna\n", encoding="utf-8")
    proc = kimt("check-csv", str(path), check_rc=2)
    assert "line 3" in proc.stdout and "line 4" in proc.stdout
    assert "missing password" in proc.stdout


def test_bad_command_line_exits_2(tmp_path):
    proc = kimt("migrate", "--users", str(tmp_path / "nope.csv"), "--source-host", "a",
                "--target-host", "b", check_rc=2)
    assert "nope.csv" in proc.stderr and "Traceback" not in proc.stderr
    help_text = kimt("migrate", "--help", check_rc=0).stdout
    assert "130" in help_text and "exit codes" in help_text


def test_no_local_state_needed(pair, tmp_path):
    """No local state: deleting the log folder between runs still duplicates nothing."""
    src, dst = pair
    src.append(USER, "INBOX", make_message("a"))
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    kimt(*migrate_args(src, dst, users, tmp_path / "logs1"), check_rc=0)
    kimt(*migrate_args(src, dst, users, tmp_path / "logs2"), check_rc=0)
    assert len(dst.messages(USER, "INBOX")) == 1
    assert_same_mail(src, dst, USER)


def test_help_lists_every_option():
    text = kimt("migrate", "--help", check_rc=0).stdout
    for opt in ("--users", "--source-host", "--target-auth", "--target-master-style",
                "--target-pass-file", "--only", "--workers", "--log-dir", "--quiet"):
        assert opt in text, opt


def test_module_and_version():
    from kimt import __version__
    out = kimt("--version", check_rc=0).stdout
    assert __version__ in out
    assert Path(__file__).parent.parent.joinpath("kimt", "__main__.py").exists()


def test_only_selects_users_and_quiet_prints_the_summary(dovecot_factory, tmp_path):
    src = dovecot_factory()
    dst = dovecot_factory()
    for user, pw in ((USER, PASSWORD), (USER2, PASSWORD2)):
        src.add_user(user, pw)
        dst.add_user(user, "x")
        src.append(user, "INBOX", make_message(f"for {user}"))
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD), (USER2, PASSWORD2)])
    proc = kimt(*migrate_args(src, dst, users, tmp_path / "logs", "--only",
                              USER2.upper(), "--quiet"), check_rc=0)
    assert "migrating" not in proc.stdout and "=== Totals" in proc.stdout
    assert dst.messages(USER, "INBOX") == [] and len(dst.messages(USER2, "INBOX")) == 1
    unknown = kimt(*migrate_args(src, dst, users, tmp_path / "logs", "--only",
                                 "nobody@example.com"), check_rc=2)
    assert "nobody@example.com" in unknown.stderr


def test_special_folder_created_with_its_use_where_the_destination_has_none(
        dovecot_factory, tmp_path):
    src = dovecot_factory(special_use={"Sent Messages": "\\Sent"}, auto_create_special=True)
    dst = dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    src.append(USER, "Sent Messages", make_message("sent"))
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    kimt(*migrate_args(src, dst, users, tmp_path / "logs"), check_rc=0)
    folders = dst.folders(USER)
    assert "Sent Messages" in folders
    assert_same_mail(src, dst, USER)


def test_destination_restart_mid_run_is_survived(dovecot_factory, tmp_path):
    src = dovecot_factory()
    dst = dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    src.append_many(USER, "INBOX", [make_message(f"m{i}", body="x" * 2000 + "\r\n")
                                    for i in range(3000)])
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    import threading
    import time as _time

    at_restart = []

    def restart_when_copying():
        end = _time.monotonic() + 60
        while _time.monotonic() < end:
            try:
                m = dst.connect(USER)
                typ, data = m.status("INBOX", "(MESSAGES)")
                m.logout()
                count = int(data[0].split(b"MESSAGES ")[1].rstrip(b")"))
                if count >= 300:
                    at_restart.append(count)
                    break
            except Exception:
                pass
            _time.sleep(0.05)
        dst.restart()

    t = threading.Thread(target=restart_when_copying)
    t.start()
    # At most 1 000 messages a second: the 3 000 take 3 s or more, so the restart (at 300)
    # lands while copying even when the machine is slow to notice (it was not always so).
    proc = kimt(*migrate_args(src, dst, users, tmp_path / "logs", "--batch-mb", "0.02",
                              "--max-messages-per-second", "1000"))
    t.join()
    assert at_restart and at_restart[0] < 3000, "the restart came while copying"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reconnecting" in proc.stdout, proc.stdout
    assert "Reconnects: " in report_of(proc)
    assert_same_mail(src, dst, USER)


def test_noselect_parent_is_never_selected(dovecot_factory, tmp_path):
    src = dovecot_factory(separator=".", prefix="INBOX.")
    dst = dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    m = src.connect(USER)
    assert m._simple_command("CREATE", '"INBOX.Parent.Child"')[0] == "OK"  # no CREATE Parent
    m.logout()
    assert "\\Noselect" in src.folders(USER)["Parent"]["flags"]
    src.append(USER, "Parent/Child", make_message("deep"))
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    proc = kimt(*migrate_args(src, dst, users, tmp_path / "logs"), check_rc=0)
    assert {"Parent", "Parent/Child"} <= set(dst.folders(USER))
    assert_same_mail(src, dst, USER)
    debug = (run_dir_of(proc) / "debug.log").read_text()
    assert "EXAMINE 'INBOX.Parent.Child'" in debug
    assert "EXAMINE 'INBOX.Parent' " not in debug


def test_login_failure_verdict_says_what_to_fix(dovecot_factory, tmp_path):
    src = dovecot_factory()
    dst = dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    users = write_csv(tmp_path / "users.csv", [(USER, "not-his-password")])
    proc = kimt(*migrate_args(src, dst, users, tmp_path / "logs"), check_rc=1)
    verdict = next(ln for ln in report_of(proc).splitlines() if "Verdict:" in ln)
    assert "Check this user's password in the users file" in verdict
