"""`kimt migrate --post-migrate-script` (IceWarp's option), as a real process on Dovecot.

The script runs after each mailbox that completes (done, or done with problems), never
after a failed one; without a shell, the address its argument, the password on its
standard input and in KIMT_PASSWORD; from KIMT's main process; its exit code and last
lines go to the Report; a failing, hanging or killed script makes the mailbox "done,
script failed" and the run goes on; the run waits for it, and a stop at once kills it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from dovecot import DEFAULT_SPECIAL_USE, make_message
from helpers import alive, kimt, migrate_args, report_of, run_dir_of, write_csv
from test_interrupt import start_kimt, wait_for

from kimt.core.script import unsafe_for_cmd

ANNA, BOB, CYRIL = "anna@example.com", "bob@example.com", "cyril@example.com"
PASSWORDS = {ANNA: "Anna-Pw-1!", BOB: "Bob-Pw-2?", CYRIL: "Cyril-Pw-3#"}

# What each call saw goes to a JSON line in $RECORD; what it does depends on the address.
SCRIPT = """\
#!{python}
import json, os, subprocess, sys, time
email = sys.argv[1]
password = sys.stdin.readline().rstrip("\\n")
with open(os.environ["RECORD"], "a") as f:
    f.write(json.dumps({{"argv": sys.argv, "stdin": password,
                        "env": os.environ.get("KIMT_PASSWORD"),
                        "email": os.environ.get("KIMT_EMAIL"),
                        "rerun": os.environ.get("KIMT_RERUN"),
                        "admin": os.environ.get("KIMT_TARGET_PASS"),
                        "parent": open(f"/proc/{{os.getppid()}}/cmdline").read()}}) + "\\n")
print(f"welcome mail for {{email}}, password {{password}}")
behaviour = os.environ.get("BEHAVIOUR_" + email.split("@")[0].upper(), "ok")
if behaviour == "fail":
    print("cannot reach the groupware server", file=sys.stderr)
    sys.exit(3)
if behaviour == "hang":
    child = subprocess.Popen(["sleep", "300"])
    open(os.environ["RECORD"] + ".child", "w").write(str(child.pid))
    print("started", flush=True)
    time.sleep(300)
if behaviour == "slow":
    time.sleep(1.5)
    print("finished late")
"""


def make_script(tmp_path: Path) -> Path:
    path = tmp_path / "after.py"
    path.write_text(SCRIPT.format(python=sys.executable))
    path.chmod(0o755)
    return path


def records(tmp_path: Path) -> dict[str, dict]:
    path = tmp_path / "record.jsonl"
    if not path.exists():
        return {}
    return {r["argv"][1]: r for r in map(json.loads, path.read_text().splitlines())}


def section(report: str, email: str) -> str:
    return report.split(f"=== {email} — ", 1)[1].split("\n===", 1)[0]


def test_runs_after_each_completed_mailbox_with_the_password_never_on_a_command_line(
        dovecot_factory, tmp_path):
    src = dovecot_factory()
    dst = dovecot_factory(special_use=DEFAULT_SPECIAL_USE, auto_create_special=True,
                          quota_max_mail_size="100k")
    for email, password in PASSWORDS.items():
        src.add_user(email, password)
        dst.add_user(email, "x")
        src.append(email, "INBOX", make_message(f"hello {email}"))
    src.append(BOB, "INBOX", make_message("too big for the destination", size=300_000))
    script = make_script(tmp_path)
    users = write_csv(tmp_path / "users.csv", [(ANNA, PASSWORDS[ANNA]), (BOB, PASSWORDS[BOB]),
                                               (CYRIL, "not-cyrils-password")])
    args = migrate_args(src, dst, users, tmp_path / "logs", "--post-migrate-script",
                        str(script))
    env = {"RECORD": str(tmp_path / "record.jsonl"), "BEHAVIOUR_ANNA": "slow",
           "KIMT_TARGET_PASS": "never-for-the-script"}
    proc = kimt(*args, env=env, check_rc=1)  # Bob done with problems, Cyril failed

    seen = records(tmp_path)
    assert set(seen) == {ANNA, BOB}  # done, done with problems; not the failed one
    for email in (ANNA, BOB):
        assert seen[email]["argv"] == [str(script), email]  # no shell, one argument
        assert seen[email]["stdin"] == seen[email]["env"] == PASSWORDS[email]
        assert seen[email]["email"] == email and seen[email]["rerun"] == "0"
        assert seen[email]["admin"] is None
        # started by KIMT's main process ('python -m kimt migrate'), not a worker
        assert "kimt\0migrate\0" in seen[email]["parent"], seen[email]["parent"]
    report = report_of(proc)
    anna = section(report, ANNA)
    assert anna.startswith("done (")
    assert "  Post-migrate script: exit code 0 (" in anna
    # the run waited for the slow script; what it printed is in the Report, password masked
    assert f"      | welcome mail for {ANNA}, password •••\n      | finished late" in anna
    bob = section(report, BOB)
    assert bob.startswith("done with problems") and "Post-migrate script: exit code 0" in bob
    assert "Post-migrate script" not in section(report, CYRIL)
    assert "Post-migrate script: ran after 2 mailboxes, failed for 0" in report
    assert f"ok {ANNA}: done — " in proc.stdout and "post-migrate script: exit code 0" \
        in proc.stdout
    debug = (run_dir_of(proc) / "debug.log").read_text(encoding="utf-8")
    assert "its post-migrate script runs" in debug
    for secret in PASSWORDS.values():
        assert secret not in report + debug + proc.stdout + proc.stderr

    # A re-run copies nothing and runs the script again, saying it is a re-run.
    (tmp_path / "record.jsonl").unlink()
    kimt(*migrate_args(src, dst, users, tmp_path / "logs2", "--post-migrate-script",
                       str(script), "--only", ANNA), env=env, check_rc=0)
    assert records(tmp_path)[ANNA]["rerun"] == "1"
    assert len(dst.messages(ANNA, "INBOX")) == 1


def test_a_failing_or_hanging_script_marks_done_script_failed_and_the_run_goes_on(
        dovecot_factory, tmp_path):
    src = dovecot_factory()
    dst = dovecot_factory()
    for email, password in PASSWORDS.items():
        src.add_user(email, password)
        dst.add_user(email, "x")
        src.append_many(email, "INBOX", [make_message(f"{email} {i}") for i in range(3)])
    users = write_csv(tmp_path / "users.csv", list(PASSWORDS.items()))
    args = migrate_args(src, dst, users, tmp_path / "logs", "--post-migrate-script",
                        str(make_script(tmp_path)), "--post-migrate-timeout", "0.05")
    started = time.monotonic()
    proc = kimt(*args, env={"RECORD": str(tmp_path / "record.jsonl"), "BEHAVIOUR_ANNA": "fail",
                            "BEHAVIOUR_BOB": "hang"}, check_rc=1)
    assert time.monotonic() - started < 60  # the hanging script was stopped at 3 s
    for email in PASSWORDS:  # the mail of all three is there
        assert len(dst.messages(email, "INBOX")) == 3
    child = int((tmp_path / "record.jsonl.child").read_text())
    wait_for(lambda: not alive(child), 10, "the hanging script's child to be killed too")

    out = proc.stdout
    assert f"!! {ANNA}: done, script failed — 3 copied" in out
    assert ("all 3 messages are on the destination. Post-migrate script FAILED (exit code "
            f"3): fix it, then run it by hand for {ANNA}, or run again") in out
    assert (f"!! {BOB}: done, script failed" in out and "Post-migrate script FAILED (it did "
            "not end within the time limit of 0.05 min and was stopped)" in out)
    assert f"ok {CYRIL}: done" in out
    assert "Every message is on the destination." in out
    assert "The post-migrate script failed for 2 mailboxes" in out

    report = report_of(proc)
    anna = section(report, ANNA)
    assert anna.startswith("done, script failed (")
    assert "  Post-migrate script: FAILED, exit code 3 (" in anna
    assert "      | cannot reach the groupware server" in anna
    bob = section(report, BOB)
    assert "Post-migrate script: FAILED, it did not end within the time limit" in bob
    assert "      | started" in bob
    assert "Mailboxes: 3 (1 done, 2 done but their script failed)" in report
    assert (f"  Post-migrate script failed:\n    {ANNA}: exit code 3\n    {BOB}: it did not "
            "end within") in report
    assert "Not complete:" not in report  # the mail is complete


def test_stop_now_kills_a_running_script(dovecot_factory, tmp_path):
    src = dovecot_factory()
    dst = dovecot_factory()
    src.add_user(ANNA, PASSWORDS[ANNA])
    dst.add_user(ANNA, "x")
    src.append(ANNA, "INBOX", make_message("hello"))
    users = write_csv(tmp_path / "users.csv", [(ANNA, PASSWORDS[ANNA])])
    args = migrate_args(src, dst, users, tmp_path / "logs", "--post-migrate-script",
                        str(make_script(tmp_path)))
    os.environ["RECORD"], os.environ["BEHAVIOUR_ANNA"] = str(tmp_path / "record.jsonl"), "hang"
    try:
        proc = start_kimt(args)
    finally:
        del os.environ["RECORD"], os.environ["BEHAVIOUR_ANNA"]
    child_file = tmp_path / "record.jsonl.child"
    try:
        wait_for(child_file.exists, 60, "the script to start")
        proc.send_signal(signal.SIGTERM)  # stop at once
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    wait_for(lambda: not alive(int(child_file.read_text())), 10, "the script's child to end")
    report = report_of(out)
    assert "Post-migrate script: FAILED, stopped with the run (Stop now) before it ended" \
        in report
    assert len(dst.messages(ANNA, "INBOX")) == 1


def test_bad_script_options_are_said_before_anything_runs(tmp_path):
    users = write_csv(tmp_path / "users.csv", [(ANNA, PASSWORDS[ANNA])])
    base = ["migrate", "--users", str(users), "--source-host", "127.0.0.1:1",
            "--target-host", "127.0.0.1:1", "--log-dir", str(tmp_path / "logs")]
    missing = kimt(*base, "--post-migrate-script", str(tmp_path / "nope.sh"), check_rc=2)
    assert f"the post-migrate script {tmp_path / 'nope.sh'} does not exist" in missing.stderr
    plain = tmp_path / "plain.sh"
    plain.write_text("echo hi\n")
    refused = kimt(*base, "--post-migrate-script", str(plain), check_rc=2)
    assert "is not executable (chmod +x it" in refused.stderr
    plain.chmod(0o755)
    zero = kimt(*base, "--post-migrate-script", str(plain), "--post-migrate-timeout", "0",
                check_rc=2)
    assert "time limit must be more than 0" in zero.stderr
    both = kimt(*base, "--post-migrate-script", str(plain), "--passwords-only", check_rc=2)
    assert "--passwords-only copies none" in both.stderr
    assert not (tmp_path / "logs").exists()  # nothing ran


def test_a_batch_file_never_gets_an_address_cmd_would_run():
    assert unsafe_for_cmd(r"C:\scripts\after.bat", "a&calc@example.com")
    assert unsafe_for_cmd(r"C:\scripts\after.CMD", "a|b@example.com")
    assert not unsafe_for_cmd(r"C:\scripts\after.bat", "anna.nova@example.com")
    assert not unsafe_for_cmd(r"C:\scripts\after.exe", "a&calc@example.com")
