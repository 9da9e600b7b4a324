"""Choosing users after Check logins: by login result, failed ones left out, a new file clean.

Check logins runs against a real Dovecot: one user of four has a wrong
password in the file.
"""

from __future__ import annotations

from drive import press, pump, row, shot, text_of, type_into
from helpers import write_csv

USERS = [("anna@example.com", "Anna-Pw-1!", "Anna"), ("bob@example.com", "Bob-Pw-2!", "Bob"),
         ("cyril@example.com", "not-cyrils", "Cyril"), ("dana@example.com", "Dana-Pw-4!", "Dana")]


def addresses(page) -> list[str]:
    return [row(page.table.tree, i)["address"] for i in page.table.tree.get_children()]


def test_filter_by_login_result_and_unselect_failed(wizard, src, tmp_path, screenshots):
    w = wizard
    for user, pw, _ in USERS:
        src.add_user(user, pw if pw != "not-cyrils" else "Cyril-Pw-3!")
    page = w.source_page
    page.security.set("none")
    type_into(w, page.host, f"{src.host}:{src.port}")
    page = w.users_page
    w.show(w.pages.index(page))
    page.load(str(write_csv(tmp_path / "users.csv", USERS)))
    page.table.filter.set("a")  # anna, dana (and their domain): checks go to the selected, all
    page.table.login_filter.set("Logins not checked")
    page.table.login_filter_box.event_generate("<<ComboboxSelected>>")
    w.root.update()
    assert len(addresses(page)) == 4  # every address has an "a"; none checked yet
    press(w, page.check_button)
    pump(w, lambda: "logins work" in text_of(page.survey_label), what="Check logins")
    for which, expected in (("Failed logins", ["cyril@example.com"]),
                            ("Working logins", ["anna@example.com", "bob@example.com",
                                                "dana@example.com"]),
                            ("Logins not checked", [])):
        page.table.login_filter.set(which)
        page.table.login_filter_box.event_generate("<<ComboboxSelected>>")
        w.root.update()
        assert addresses(page) == expected, which
    assert text_of(page.table.empty_label) == "No user matches “a” among the logins not checked."
    assert text_of(page.unselect_failed_button) == "Unselect 1 failed login"
    press(w, page.unselect_failed_button)
    assert text_of(w.note_label) == "3 of 4 selected"
    assert [a.email for a in page.selected()] == [
        "anna@example.com", "bob@example.com", "dana@example.com"]
    assert str(page.unselect_failed_button.cget("state")) == "disabled"
    page.table.login_filter.set("Failed logins")
    page.table.login_filter_box.event_generate("<<ComboboxSelected>>")
    w.root.update()
    shot(w, screenshots, "4-users-failed-logins")

    # Another file: it starts clean (no filter, no answers about the other users).
    first = page.table.tree.get_children()[0]
    page.table.tree.event_generate("<Button-1>", x=60, y=page.table.tree.bbox(first)[1] + 4)
    assert text_of(page.table.details)  # the failed login's whole reason
    other = write_csv(tmp_path / "other.csv", [(f"u{i}@example.org", "pw", f"U {i}")
                                               for i in range(6)])
    page.load(str(other))
    assert (page.table.filter.get(), page.table.login_filter.get()) == ("", "All logins")
    assert len(addresses(page)) == 6 and text_of(w.note_label) == "6 of 6 selected"
    assert text_of(page.survey_label) == "" and text_of(page.table.details) == ""
    assert not page.table.empty_label.winfo_ismapped()
    assert text_of(page.table.all_button) == "Select all"
