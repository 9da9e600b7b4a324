"""The window at its smallest usual size: nothing cut off, nothing jumping, always on screen.

One walk through every page at 1024×700 measures each text against the room
its widget has (`truncation.clipped`): the source page with an admin login and
its error lines, the destination's kinds, the users page with long Czech
names in a Windows-1250 file and Check logins' answers, the status and result
pages of a real migration between two Dovecots.
"""

from __future__ import annotations

from dovecot import make_message
from drive import press, pump, settle, shot, text_of, try_next, type_into, until_result
from helpers import ADMIN_PASSWORD, write_csv
from truncation import clipped

from kimt.gui import settings as settings_store
from kimt.gui.app import PANEL, TITLE_BAR, make_window

USERS = [("jiri.novak@example.com", "Jiri-Pw-1!", "Jiří Novák"),
         ("bozena.nemcova-dvorakova@oddeleni-vyroby.example.com", "Bozena-Pw-2!",
          "Božena Němcová-Dvořáková, vedoucí oddělení výroby"),
         ("zdenek.sverak@example.com", "wrong-password", "Zdeněk Svěrák")]

# Cut on purpose: a failed login's reason in the table starts there, whole in the details.
ALLOWED = ("login 'failed:",)


def seed(src, dst) -> None:
    for user, pw, _ in USERS:
        src.add_user(user, pw if pw != "wrong-password" else "the-real-one")
        dst.add_user(user, "x")
        src.append_many(user, "INBOX", [make_message(f"{user} {i}") for i in range(3)])


def walk(w, name: str, screenshots) -> list[str]:
    settle(w, 0.3)
    shot(w, screenshots, f"layout-{name}")
    return [f"{name}: {p}" for p in clipped(w.root, ALLOWED)]


def test_nothing_is_cut_at_1024x700(wizard, src, dst, tmp_path, screenshots):
    w = wizard
    w.root.geometry("1024x700+0+0")
    seed(src, dst)
    problems = walk(w, "welcome", screenshots)
    press(w, w.next_button)
    page = w.source_page
    page.kind.set("master")
    try_next(w)  # every error line shown
    problems += walk(w, "source-master", screenshots)
    page.kind.set("user")
    page.security.set("none")
    type_into(w, page.host, f"{src.host}:{src.port}")
    press(w, page.test_button)
    pump(w, lambda: text_of(page.imap_line.result).startswith("Connected"), what="connected")
    problems += walk(w, "source", screenshots)
    press(w, w.next_button)

    page = w.destination_page
    page.security.set("none")
    type_into(w, page.host, f"{dst.host}:{dst.port}")
    page.kind.set("master")
    try_next(w)
    problems += walk(w, "destination-master", screenshots)
    page.kind.set("kerio")
    try_next(w)
    problems += walk(w, "destination-kerio", screenshots)
    # A certificate prompt on the tallest page: the page scrolls, the button is reached.
    page.security.set("auto")
    type_into(w, page.host, f"{src.host}:{src.port}")  # its certificate is self-signed
    press(w, page.test_button)
    pump(w, lambda: page.imap_line.trust_frame.winfo_ismapped(), what="the certificate")
    pump(w, w.page_view.scrolls, what="the page to scroll")
    trust = page.imap_line.trust_button
    trust.focus_force()
    view = w.page_view.canvas

    def trust_in_view() -> bool:
        return view.winfo_rooty() <= trust.winfo_rooty() and (
            trust.winfo_rooty() + trust.winfo_height()
            <= view.winfo_rooty() + view.winfo_height())

    # (the keyboard reaches it when X delivers the focus: on a loaded machine, later)
    pump(w, trust_in_view, timeout=10, what="the focused Trust button scrolled into view")
    problems += walk(w, "destination-kerio-certificate", screenshots)
    page.security.set("none")
    type_into(w, page.host, f"{dst.host}:{dst.port}")
    page.kind.set("master")
    type_into(w, page.logins.admin_user, "admin")
    type_into(w, page.logins.admin_password, ADMIN_PASSWORD)
    press(w, w.next_button)

    page = w.users_page
    users = write_csv(tmp_path / "users.csv", USERS, encoding="cp1250")
    page.load(str(users))
    assert page.accounts.encoding == "cp1250"
    press(w, page.check_button)
    pump(w, lambda: "logins work" in text_of(page.survey_label), what="Check logins")
    problems += walk(w, "users", screenshots)
    type_into(w, page.table.filter, "nobody-has-this")
    problems += walk(w, "users-filtered", screenshots)
    type_into(w, page.table.filter, "")
    press(w, page.unselect_failed_button)
    press(w, w.next_button)
    problems += walk(w, "status", screenshots)
    pump(w, lambda: w.page is w.result_page, timeout=120, what="the result page")
    problems += walk(w, "result", screenshots)
    assert not problems, "\n".join(problems)


def test_a_full_screen_geometry_comes_back_inside_the_screen(home):
    w = make_window()
    try:
        root = w.root
        screen_w, screen_h = root.winfo_screenwidth(), root.winfo_screenheight()
        for saved in (f"{screen_w}x{screen_h}+0+0",  # remembered at full screen
                      f"{screen_w + 300}x{screen_h + 200}+0+40",
                      f"1100x760+{screen_w + 500}+{screen_h + 300}"):  # a screen gone since
            w.destroy()  # (saves its own geometry)
            settings = settings_store.load()
            settings.geometry = saved
            settings_store.save(settings)
            w = make_window()
            assert w.settings.geometry == saved
            root = w.root
            settle(w, 0.3)
            bottom = w.next_button.winfo_rooty() + w.next_button.winfo_height()
            assert root.winfo_height() <= screen_h - PANEL - TITLE_BAR, saved
            assert root.winfo_width() <= screen_w and root.winfo_rootx() >= 0, saved
            assert root.winfo_rootx() + root.winfo_width() <= screen_w, saved
            assert bottom <= screen_h - PANEL, f"{saved}: Next ends at {bottom}"
    finally:
        if w.root.winfo_exists():
            w.destroy()


def test_error_lines_keep_their_room_while_typing(wizard):
    """No error before a field was reached; once it is in play, its line stays (the rows
    under the pointer don't move as an error comes and goes)."""
    w = wizard
    press(w, w.next_button)
    page = w.source_page
    assert w.root.focus_get() is page.host_entry  # the page's first field
    settle(w, 0.2)
    assert text_of(page.host_error) == ""
    radios = page.security_radios
    where = [r.winfo_rooty() for r in radios]
    for typed in ("mail", "mail exa", "mail example", "mail.example.com", "mail.example.com:9",
                  "mail.example.com:99999", "mail.example.com:993"):
        type_into(w, page.host, typed)
        settle(w, 0.05)
        assert [r.winfo_rooty() for r in radios] == where, typed
    type_into(w, page.host, "mail example")
    assert text_of(page.host_error) == ""  # still in the field: no error yet
    page.security_radios[1].focus_set()  # the field is left
    settle(w, 0.1)
    assert text_of(page.host_error) == "A server name has no spaces"
    assert [r.winfo_rooty() for r in radios] == where


def test_nothing_is_cut_at_1024x700_on_the_server_kinds_admin_answers_and_results(
        wizard, src, dst, tmp_path, screenshots):
    """The pages the server kinds, the admin test and the run's words brought: each kind's
    sentence, Test connection's answers for a wrong and a right admin password, the
    result page of a run the admin could not start (with its "Change the destination
    server settings" button), the Report in KIMT's log window, and a daily limit's
    result, each measured at 1024×700."""
    from throttle_proxy import GMAIL_DAY, ThrottleProxy

    w = wizard
    w.root.geometry("1024x700+0+0")
    seed(src, dst)
    press(w, w.next_button)
    page = w.source_page
    problems = []
    for kind in ("gmail", "m365", "exchange"):
        page.preset.set(kind)
        problems += walk(w, f"source-{kind}", screenshots)
    page.preset.set("generic")
    page.kind.set("user")  # (Microsoft 365 chose OAuth tokens, Exchange an admin)
    page.security.set("none")
    type_into(w, page.host, f"{src.host}:{src.port}")
    press(w, w.next_button)

    page = w.destination_page
    for kind in ("gmail", "m365", "exchange"):
        page.preset.set(kind)
        problems += walk(w, f"destination-{kind}", screenshots)
    page.preset.set("generic")
    page.kind.set("master")
    page.security.set("none")
    type_into(w, page.host, f"{dst.host}:{dst.port}")
    type_into(w, page.logins.admin_user, "admin")
    for password, answer in (("not-the-admins-password", "refused the admin login"),
                             (ADMIN_PASSWORD, "works")):
        type_into(w, page.logins.admin_password, password)
        press(w, page.test_button)
        pump(w, lambda: not text_of(page.imap_line.result).startswith("Connecting"),
             what="the test's answer")
        assert answer in text_of(page.imap_line.result)
        problems += walk(w, f"destination-admin-{answer.split()[-1]}", screenshots)

    type_into(w, page.logins.admin_password, "not-the-admins-password")  # the run fails
    press(w, w.next_button)
    w.users_page.load(str(write_csv(tmp_path / "users.csv", USERS[:2], encoding="cp1250")))
    press(w, w.next_button)
    until_result(w, timeout=120, what="the result of a run the admin could not start")
    result = w.result_page
    assert text_of(result.fix_button) == "Change the destination server settings"
    result.fix_button.focus_set()  # a page taller than the window scrolls to it
    problems += walk(w, "result-admin-refused", screenshots)
    press(w, result.report_button)
    viewer = result.viewers[result.report_path]
    pump(w, lambda: not viewer.loading, what="the Report in its window")
    settle(w, 0.3)
    shot(w, screenshots, "layout-log-viewer", window=viewer)
    problems += [f"log viewer: {p}" for p in clipped(viewer, ALLOWED)]
    viewer.close()

    press(w, result.fix_button)
    assert w.page is page
    type_into(w, page.logins.admin_password, ADMIN_PASSWORD)
    press(w, w.back_button)  # the source through a proxy that ends Gmail's day at once
    with ThrottleProxy(src.port, GMAIL_DAY, rb"UID FETCH .*BODY\.PEEK\[\]") as proxy:
        type_into(w, w.source_page.host, f"127.0.0.1:{proxy.port}")
        press(w, w.next_button)
        press(w, w.next_button)
        press(w, w.next_button)
        until_result(w, timeout=120, what="the result of a daily limit")
        assert "A daily limit stopped" in text_of(result.headline)
        problems += walk(w, "result-daily-limit", screenshots)
    assert not problems, "\n".join(problems)
