"""Many domains in one users file, Kerio Connect as the destination (issue 11, IceWarp's
"multi-domain"): 3 domains, 30 users; the domains are created as needed, every account
with its password, every message copied once, and a second run creates and copies nothing.
"""

from __future__ import annotations

from dovecot import make_message
from helpers import assert_same_mail, kimt, report_of, write_csv
from test_kerio import kerio_args

DOMAINS = ("alpha.example", "beta.example", "gamma.example")


def test_three_domains_thirty_users_to_kerio(kerio, tmp_path):
    src, dst, api, _ = kerio
    api.add_domain("gamma.example")  # one of them is there already: used as it is
    rows = []
    for n in range(30):
        email = f"user{n:02d}@{DOMAINS[n % 3]}"
        password = f"Pw-{n:02d}-{DOMAINS[n % 3]}"
        src.add_user(email, password)
        src.append_many(email, "INBOX", [make_message(f"{email} #{i}") for i in range(n % 3 + 1)])
        rows.append((email, password, f"User {n}"))
    users = write_csv(tmp_path / "users.csv", rows)
    args = kerio_args(src, dst, api, users, tmp_path / "logs", "--workers", "6")

    first = kimt(*args, check_rc=0)
    assert "Kerio: 2 domains created; users: 30 created, 0 already there, 0 refused." \
        in first.stdout
    assert sorted(d["name"] for d in api.domains) == sorted(DOMAINS)
    assert "Domains created: alpha.example, beta.example" in report_of(first)
    names = {d["id"]: d["name"] for d in api.domains}
    assert sorted(f"{u['loginName']}@{names[u['domainId']]}" for u in api.users) == \
        sorted(r[0] for r in rows)
    for email, password, _ in rows:
        assert dst.users[email] == password
        assert_same_mail(src, dst, email)
    assert "Every message is on the destination." in first.stdout

    calls = len(api.calls)
    second = kimt(*args, check_rc=0)
    assert not {"Domains.create", "Users.create"} & set(api.calls[calls:])
    assert second.stdout.count(" 0 copied,") == 30
    assert "users: 0 created, 30 already there" in second.stdout
