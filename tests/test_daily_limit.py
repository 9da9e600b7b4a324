"""A provider's daily limit (issue 12): the run stops cleanly and a later run goes on.

Gmail ends a session with `* BYE [OVERQUOTA] Account exceeded command or
bandwidth limits.` once an account has downloaded its day's share, and then
refuses its logins with the same words; `throttle_proxy` does that before a
real Dovecot after a number of body fetches. Nothing counts as failed, the run
exits 4 and says from when the same run may go on; the run after that (the
proxy's day over) copies the rest, without a duplicate. KIMT's own budget
(`--max-bytes-per-day`) stops a mailbox the same way before the provider does.
"""

from __future__ import annotations

import re

from dovecot import make_message
from helpers import (
    ADMIN_PASSWORD,
    assert_same_mail,
    kimt,
    mailbox_content,
    migrate_args,
    report_of,
    write_csv,
)
from throttle_proxy import GMAIL_DAY, ThrottleProxy

BODY_FETCH = rb"UID FETCH .*BODY\.PEEK\[\]"
DAY_OVER_RC = 4


def seed(src, dst, count: int, messages: int = 30) -> list[tuple[str, str]]:
    users = [(f"user{i}@example.com", f"pw-{i}") for i in range(count)]
    for user, password in users:
        src.add_user(user, password)
        dst.add_user(user, "x")
        src.append_many(user, "INBOX", [make_message(f"{user} {n}", body="y" * 1500)
                                        for n in range(messages)])
        src.create_folder(user, "Archive")
        src.append_many(user, "Archive", [make_message(f"{user} old {n}") for n in range(8)])
    return users


def through(proxy: ThrottleProxy, args: list[str]) -> list[str]:
    args = list(args)
    args[args.index("--source-host") + 1] = f"127.0.0.1:{proxy.port}"
    return args


def copied(dst, user: str) -> int:
    return sum(sum(c.values()) for c in mailbox_content(dst, user).values())


def test_gmail_daily_limit_stops_the_mailboxes_and_the_next_run_goes_on(dovecot_factory,
                                                                      tmp_path):
    """Each user logs in with their own password: the limit is each account's. The first
    mailbox meets the BYE mid-copy, the second the refused login; both stop for the day."""
    src, dst = dovecot_factory(), dovecot_factory()
    users = seed(src, dst, 2)
    csv = write_csv(tmp_path / "users.csv", users)
    args = migrate_args(src, dst, csv, tmp_path / "logs", "--source-preset", "gmail",
                        "--workers", "1", "--connections-per-mailbox", "1", "--retries", "0",
                        "--batch-mb", "0.01")
    with ThrottleProxy(src.port, GMAIL_DAY, BODY_FETCH, after=3) as proxy:
        first = kimt(*through(proxy, args), check_rc=DAY_OVER_RC)
        assert proxy.fired == 1 and proxy.refused_logins >= 1
        proxy.new_day()
        partly = copied(dst, users[0][0])
        assert 0 < partly < 38
        assert copied(dst, users[1][0]) == 0
        out = first.stdout
        assert "daily limit reached" in out and ": failed" not in out and "FAILED" not in out
        assert "Account exceeded command or bandwidth limits" in out
        assert re.search(r"Run the same migration again after \w{3} \d+ \w{3} \d\d:\d\d "
                         r"\(local time\) to go on where it stopped: nothing is copied twice",
                         out), out
        report = report_of(first)
        assert report.count("Verdict: stopped for today (the server's daily limit is "
                            "reached") == 2, report
        assert "A daily limit stopped 2 mailboxes at a clean point" in report
        second = kimt(*through(proxy, args), check_rc=0)
    assert f"{38 - partly} copied, {partly} already there" in second.stdout
    for user, _ in users:
        assert_same_mail(src, dst, user)


def test_a_daily_limit_of_the_shared_admin_login_stops_every_mailbox(dovecot_factory,
                                                                    tmp_path):
    """The source's admin login works for every mailbox, so Gmail counts them all against
    that one account: once it says the day is over, the mailboxes not started yet are not
    started (no login tried for them) and every one waits for the next run."""
    src, dst = dovecot_factory(), dovecot_factory()
    users = seed(src, dst, 3)
    csv = write_csv(tmp_path / "users.csv", users)
    logs = tmp_path / "logs"
    args = migrate_args(src, dst, csv, logs, "--source-preset", "gmail", "--workers", "1",
                        "--connections-per-mailbox", "1", "--retries", "0",
                        "--batch-mb", "0.01", "--source-auth", "master", "--source-user",
                        "admin", "--source-pass-file", str(logs / "admin.pass"))
    assert (logs / "admin.pass").read_text().strip() == ADMIN_PASSWORD
    with ThrottleProxy(src.port, GMAIL_DAY, BODY_FETCH, after=3) as proxy:
        first = kimt(*through(proxy, args), check_rc=DAY_OVER_RC)
        assert proxy.refused_logins == 0  # the others were not even tried
        proxy.new_day()
        assert "every mailbox stops" in first.stdout
        report = report_of(first)
        assert report.count("Verdict: stopped for today (not started: another mailbox "
                            "reached the daily limit of the admin login they share)") == 2
        assert "A daily limit stopped 3 mailboxes" in report
        assert all(copied(dst, user) == 0 for user, _ in users[1:])
        kimt(*through(proxy, args), check_rc=0)
    for user, _ in users:
        assert_same_mail(src, dst, user)


def test_kimts_own_daily_budget_stops_a_mailbox_before_the_provider_does(dovecot_factory,
                                                                        tmp_path):
    """--max-bytes-per-day: a mailbox stops before the batch that would go over it; each
    run goes on from where the last stopped, until all is there, with no duplicate."""
    src, dst = dovecot_factory(), dovecot_factory()
    (user, _), = users = seed(src, dst, 1)
    csv = write_csv(tmp_path / "users.csv", users)
    args = migrate_args(src, dst, csv, tmp_path / "logs", "--max-bytes-per-day", "40000",
                        "--connections-per-mailbox", "1", "--batch-mb", "0.01")
    first = kimt(*args, check_rc=DAY_OVER_RC)
    assert "KIMT's own daily budget of 39.1 KB for this mailbox is used" in first.stdout
    assert "at most 39.1 KB copied per mailbox a day (KIMT's own daily budget)" in report_of(first)
    counts = [copied(dst, user)]
    assert 0 < counts[0] < 38
    for _ in range(4):
        again = kimt(*args)
        counts.append(copied(dst, user))
        assert again.returncode in (0, DAY_OVER_RC), again.stdout
        if again.returncode == 0:
            break
    assert again.returncode == 0 and counts == sorted(counts), counts
    assert_same_mail(src, dst, user)
