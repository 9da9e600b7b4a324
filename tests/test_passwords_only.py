"""`kimt migrate --passwords-only` (IceWarp's "Migrate passwords only"), as a real process.

The accounts exist on the destination (Kerio Connect: `kerio_api.KerioApiServer` over a
Dovecot); each password is checked on the source by a login, and set in Kerio where it
differs. No mail moves, and the source is only logged in to.
"""

from __future__ import annotations

from dovecot import make_message
from helpers import kimt, report_of, run_dir_of, write_csv
from kerio_api import ADMIN_PW
from test_kerio import kerio_args

SAME, OTHER, WRONG, ABSENT = ("same@example.com", "other@example.com", "wrong@example.com",
                              "absent@example.com")
PASSWORDS = {SAME: "Same-Pw-1", OTHER: "Old-Server-Pw-2", WRONG: "Wrong-Pw-3",
             ABSENT: "Absent-Pw-4"}


def test_passwords_only_sets_what_differs_and_copies_no_mail(kerio, tmp_path):
    src, dst, api, _ = kerio
    for email, password in PASSWORDS.items():
        src.add_user(email, password if email != WRONG else "Wrong-Real-Pw-3")
        src.append(email, "INBOX", make_message(f"mail of {email}"))
    api.add_user(SAME, PASSWORDS[SAME])
    api.add_user(OTHER, "Kerio-Other-Pw-9")
    api.add_user(WRONG, "Kerio-Wrong-Pw-9")
    before = src.snapshot(SAME)
    users = write_csv(tmp_path / "users.csv", [(e, p) for e, p in PASSWORDS.items()])
    args = kerio_args(src, dst, api, users, tmp_path / "logs", "--passwords-only")

    run = kimt(*args, check_rc=1)
    assert f"ok {SAME}: already the same" in run.stdout
    assert f"ok {OTHER}: set" in run.stdout
    assert f"!! {WRONG}: login refused on the old server: login failed for {WRONG}" \
        in run.stdout
    assert f"!! {ABSENT}: not on the destination: create the account first" in run.stdout
    assert ("Passwords: 1 set, 1 already the same, 1 refused by the old server, 1 not on the "
            "destination, 0 failed.") in run.stdout
    assert dst.users[OTHER] == PASSWORDS[OTHER]  # Kerio (and its IMAP) has the old password
    assert dst.users[WRONG] == "Kerio-Wrong-Pw-9" and ABSENT not in dst.users
    assert api.calls.count("Users.set") == 1 and "Users.create" not in api.calls
    for email in (SAME, OTHER):
        assert not dst.messages(email, "INBOX")  # no mail copied
    assert src.snapshot(SAME) == before
    report = report_of(run)
    assert "=== Passwords only (no mail copied)" in report
    assert f"  {OTHER}: set" in report and f"  {SAME}: already the same" in report
    debug = (run_dir_of(run) / "debug.log").read_text(encoding="utf-8")
    for secret in [*PASSWORDS.values(), ADMIN_PW, "Kerio-Other-Pw-9"]:
        assert secret not in report + debug + run.stdout + run.stderr

    again = kimt(*args, "--only", f"{SAME},{OTHER}", check_rc=0)
    assert f"ok {OTHER}: already the same" in again.stdout


def test_without_kerio_a_different_password_is_reported_not_set(pair, tmp_path):
    src, dst = pair
    user = "jdoe@example.com"
    users = write_csv(tmp_path / "users.csv", [(user, "Src-Secret-7x!")])
    run = kimt("migrate", "--users", str(users), "--passwords-only",
               "--source-host", f"{src.host}:{src.port}", "--source-security", "none",
               "--target-host", f"{dst.host}:{dst.port}", "--target-security", "none",
               "--log-dir", str(tmp_path / "logs"), check_rc=1)
    assert (f"!! {user}: failed: the destination has another password; KIMT sets passwords "
            "only where the destination is Kerio Connect") in run.stdout
    mistake = kimt("migrate", "--users", str(users), "--passwords-only",
                   "--generate-passwords", "--source-host", "127.0.0.1:1",
                   "--target-host", "127.0.0.1:1", check_rc=2)
    assert "--passwords-only carries the old passwords over" in mistake.stderr


def test_a_stopped_run_leaves_the_users_not_yet_checked_as_they_are(kerio):
    """The wizard's Stop: no login is tried for a user once the run is stopped."""
    from kimt.core.accounts import Account
    from kimt.core.passwords import STOPPED_WORDS, migrate_passwords
    from kimt.core.servers import ServerConfig

    src, dst, api, _ = kerio
    src.add_user(SAME, PASSWORDS[SAME])
    api.add_user(SAME, PASSWORDS[SAME])
    before = len(src.log_text())
    outcomes = migrate_passwords(ServerConfig(src.host, src.port, "none", role="source"),
                                 ServerConfig(dst.host, dst.port, "none", role="destination"),
                                 None, [Account(SAME, PASSWORDS[SAME])], stopped=lambda: True)
    assert [(o.email, o.state, o.reason) for o in outcomes] == [(SAME, "failed",
                                                                  STOPPED_WORDS)]
    assert "Login: user=" not in src.log_text()[before:]
