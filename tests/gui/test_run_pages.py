"""The status and result pages as a novice meets them: Stop half-way, Run again, the logs.

A run is held to a few messages a second (the run's own rate limit, in small
batches), so Stop certainly lands in the middle of a mailbox however busy
the machine is: no test here relies on timing luck.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import replace

from dovecot import make_message
from drive import (
    all_text,
    copy_by_dragging,
    press,
    pump,
    row,
    settle,
    shot,
    text_of,
    to_users_page,
    type_into,
    until_result,
)
from helpers import ADMIN_PASSWORD, write_csv

from kimt.core.events import DONE, STOPPED
from kimt.core.limits import Limits
from kimt.gui.logview import LogViewer
from kimt.gui.status import COUNTED, LISTING, LOGGING_IN

JDOE, JDOE_PW = "jdoe@example.com", "Src-Secret-7x!"
ANNA, ANNA_PW = "anna@example.com", "Anna-Pass-9q?"
LONG_FOLDER = "Lists/dev.team.announcements.and.other.long.names"


def held_back(w, messages_per_second: float) -> None:
    """Every run of this window copies at most this many messages a second, in batches
    of 10 (the run's own limits, as `--max-messages-per-second` sets them)."""
    build = w.build_request

    def slower(accounts, workers):
        request = build(accounts, workers)
        s = request.settings
        return replace(request, settings=replace(
            s, limits=Limits(messages_per_second=messages_per_second),
            copy=replace(s.copy, batch_messages=10)))

    w.build_request = slower


def on_destination(dst, user: str) -> int:
    return sum(len(dst.messages(user, name)) for name, info in dst.folders(user).items()
               if "\\Noselect" not in info["flags"])


def test_stop_counts_whole_mailboxes_and_run_again_starts_clean(wizard, src, dst, tmp_path,
                                                                screenshots):
    w = wizard
    for user, pw in ((JDOE, JDOE_PW), (ANNA, ANNA_PW)):
        src.add_user(user, pw)
        dst.add_user(user, "whatever")
    src.append_many(JDOE, "INBOX", [make_message(f"in {i}") for i in range(150)])
    src.create_folder(JDOE, LONG_FOLDER)
    src.append_many(JDOE, LONG_FOLDER, [make_message(f"dev {i}") for i in range(54)])
    src.append_many(ANNA, "INBOX", [make_message(f"anna {i}") for i in range(5)])
    to_users_page(w, src, dst, write_csv(tmp_path / "u.csv", [(JDOE, JDOE_PW, "J"),
                                                               (ANNA, ANNA_PW, "A")]),
                  workers=1)  # one mailbox at a time: the second waits its turn
    held_back(w, 20)  # 204 messages: ten seconds at least
    status = w.status_page
    seen: list[dict] = []  # every state of John's row the page showed, in order
    show = status.show
    status.show = lambda p: (show(p), seen.append(row(status.tree, JDOE))
                             if p.email == JDOE else None)
    press(w, w.next_button)  # no estimate: the page learns the totals from the run
    assert w.page is status
    pump(w, lambda: status.rows[JDOE].done >= 20, timeout=60, what="some messages copied")

    # Before its first folder the row says what the mailbox does, and its total.
    folders = [r["folder"] for r in seen]
    first = next(n for n, r in enumerate(seen)
                 if r["folder"] not in ("", LOGGING_IN, LISTING, COUNTED))
    assert LISTING in folders[:first], folders[:first + 1]
    assert {r["messages"] for r in seen if r["folder"] == LISTING} == {""}  # no "0" yet
    assert seen[first - 1]["folder"] == COUNTED, seen[:first + 1]
    assert seen[first - 1]["messages"] == "0 / 204"  # counted by the engine, not estimated
    assert row(status.tree, JDOE)["messages"].endswith(" / 204")
    assert row(status.tree, JDOE)["folders"].endswith(" / 3")  # INBOX, Lists, its child
    # The folder column is never clipped: a long name is cut at its start, to fit.
    font = status.font
    width = int(status.tree.column("folder", "width"))
    for r in seen:
        assert font.measure(r["folder"]) <= width, r["folder"]
    long_shown = [r["folder"] for r in seen if r["folder"].startswith("…")]
    assert not long_shown or all(LONG_FOLDER.endswith(f[1:]) for f in long_shown)
    assert sum(int(status.tree.column(c, "width")) for c in status.tree["columns"]) <= \
        status.tree.winfo_width()  # at the window's first size, the whole table is seen
    shot(w, screenshots, "5-status-long-folder")
    # On the smallest screen KIMT is made for, no column is squeezed: the table scrolls.
    w.root.geometry("1024x700")
    settle(w)
    widths = {c: int(status.tree.column(c, "width")) for c in status.tree["columns"]}
    for c, width in widths.items():
        assert font.measure(status.tree.heading(c, "text")) + 16 <= width, c
    assert font.measure("done with problems") + 4 <= widths["state"]
    assert font.measure("listing messages…") + 4 <= widths["folder"]
    assert font.measure(JDOE) + 8 <= widths["address"]
    assert sum(widths.values()) <= status.tree.winfo_width() or \
        status.tree.xview() != (0.0, 1.0)
    # The notice line's words (a path, a server's answer) can be selected and copied.
    assert copy_by_dragging(w, status.notice) == text_of(status.notice) != ""
    press(w, status.stop_button)
    pump(w, lambda: w.page is w.result_page, timeout=60, what="the result after Stop")

    result = w.result_page
    copied = on_destination(dst, JDOE)
    assert 20 <= copied < 204
    assert on_destination(dst, ANNA) == 0
    states = {r.email: r.state for r in result.finished.results}
    assert states == {JDOE: STOPPED, ANNA: STOPPED}
    problems = result.problem_lines()
    assert f"{JDOE}: stopped: {copied} of 204 copied. Run again to finish" in problems
    assert f"{ANNA}: not started. Run again to copy it." in problems
    assert "0 of 0" not in problems
    assert text_of(result.figures["Messages on the source"]) == \
        "204 (1 mailbox not started, not counted)"
    assert row(status.tree, ANNA)["messages"] == "not started"
    assert row(status.tree, JDOE)["messages"] == f"{copied} / 204"
    first_run = (result.report_path, result.log_dir)
    assert result.path_entry.get() == str(result.log_dir)
    shot(w, screenshots, "6-result-stopped-half-way")
    assert copy_by_dragging(w, result.headline) == text_of(result.headline) != ""

    # Run again: the result page of the first run is gone at once, not kept until the
    # second ends; the logs it points at then are the second run's.
    w.build_request = type(w).build_request.__get__(w)  # full speed now
    press(w, result.again_button)
    assert w.page is status
    assert result.report_path is None and result.path_entry.get() == ""
    assert result.problem_lines() == "" and text_of(result.headline) == ""
    assert text_of(result.figures["Copied"]) == ""
    until_result(w, timeout=90, what="the second result")
    second = result.finished
    assert {r.email: r.state for r in second.results} == {JDOE: DONE, ANNA: DONE}
    assert str(result.report_path) == second.report_path != str(first_run[0])
    assert result.path_entry.get() == second.log_dir
    press(w, result.report_button)
    viewer = result.viewers[result.report_path]
    pump(w, lambda: not viewer.loading, what="the Report in its window")
    assert viewer.path == result.report_path
    assert viewer.shown_text() == result.report_path.read_text(encoding="utf-8")
    assert on_destination(dst, JDOE) == 204 and on_destination(dst, ANNA) == 5


def test_logs_open_in_a_window_of_kimt(wizard, src, dst, tmp_path, screenshots, monkeypatch):
    """No desktop opener on this machine (PATH without xdg-open): the logs still open,
    in KIMT's own window; their paths can be selected and copied; "Open folder" says
    plainly that nothing can open it. The window keeps no copy of the Report anywhere."""
    w = wizard
    src.add_user(JDOE, JDOE_PW)
    dst.add_user(JDOE, "whatever")
    src.append_many(JDOE, "INBOX", [make_message(f"in {i}") for i in range(3)])
    to_users_page(w, src, dst, write_csv(tmp_path / "u.csv", [(JDOE, JDOE_PW, "J")]),
                  workers=1)
    press(w, w.next_button)
    pump(w, lambda: w.page is w.result_page, timeout=60, what="the result page")
    result = w.result_page
    empty_path = tmp_path / "no-programs"
    empty_path.mkdir()
    monkeypatch.setenv("PATH", str(empty_path))
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    logs_before = sorted(os.listdir(result.log_dir))

    # The log folder's path on the page: selectable, read-only.
    entry = result.path_entry
    assert entry.get() == str(result.log_dir) and str(entry.cget("state")) == "readonly"
    entry.selection_range(0, "end")
    assert entry.selection_get() == str(result.log_dir)
    press(w, result.folder_button)
    assert "no program to open it with (xdg-open is not installed)" in text_of(
        result.error_label)
    assert "Its path is shown below: select it and copy it." in text_of(result.error_label)

    press(w, result.report_button)
    viewer = result.viewers[result.report_path]
    pump(w, lambda: not viewer.loading, what="the Report in its window")
    report = result.report_path.read_text(encoding="utf-8")
    assert viewer.shown_text() == report
    assert str(viewer.text.cget("state")) == "disabled"  # read-only
    assert viewer.path_entry.get() == str(result.report_path)
    press(w, viewer.copy_button)
    assert w.root.clipboard_get() == str(result.report_path)
    viewer.text.tag_add("sel", "1.0", "1.4")  # what a user selects in it copies
    viewer.text.event_generate("<<Copy>>")
    assert w.root.clipboard_get() == "KIMT"
    press(w, viewer.folder_button)
    assert "no program to open it with" in text_of(viewer.note)

    # Find: every match counted, Next and Previous go round.
    mentions = report.lower().count("messages")
    assert mentions >= 3
    type_into(w, viewer.find_text, "MESSAGES")  # not case-sensitive
    assert text_of(viewer.found) == f"1 of {mentions}"
    press(w, viewer.next_button)
    assert text_of(viewer.found) == f"2 of {mentions}"
    first_match = viewer.text.tag_ranges("current")
    press(w, viewer.previous_button)
    press(w, viewer.previous_button)
    assert text_of(viewer.found) == f"{mentions} of {mentions}"  # round the start
    assert viewer.text.tag_ranges("current") != first_match
    viewer.find_entry.event_generate("<Return>")
    w.root.update()
    assert text_of(viewer.found) == f"1 of {mentions}"
    type_into(w, viewer.find_text, "no such words in it")
    assert text_of(viewer.found) == "not found"
    type_into(w, viewer.find_text, "Totals")
    shot(w, screenshots, "7-log-viewer", window=viewer)

    # The same button brings the same window back; the Debug log has its own.
    press(w, result.report_button)
    assert result.viewers[result.report_path] is viewer
    press(w, result.debug_button)
    debug = result.viewers[result.debug_path]
    pump(w, lambda: not debug.loading, what="the Debug log in its window")
    assert debug is not viewer and "Debug log" in debug.title()
    # Nothing written anywhere: no temporary copy, nothing beside the logs.
    assert os.listdir(temp) == []
    assert sorted(os.listdir(result.log_dir)) == logs_before
    viewer.close()
    debug.close()


def test_a_big_log_opens_without_freezing_the_window(wizard, tmp_path):
    """A 30 MB Debug log: its end is shown (and said), put in a chunk at a time, so the
    window answers all along."""
    w = wizard
    big = tmp_path / "debug.log"
    line = "12:00:00 DEBUG   kimt.wire [jdoe@example.com]: S: * 1 FETCH (UID 1 FLAGS ())\n"
    with open(big, "w", encoding="utf-8") as f:
        for _ in range(30 * 2**20 // len(line)):
            f.write(line)
        f.write("the very last line\n")
    started = time.monotonic()
    viewer = LogViewer(w.root, big, "Debug log")
    opened = time.monotonic() - started
    longest = 0.0
    end = time.monotonic() + 120
    while viewer.loading and time.monotonic() < end:
        before = time.monotonic()
        w.root.update()
        longest = max(longest, time.monotonic() - before)
        time.sleep(0.01)
    assert not viewer.loading
    # Each step of the loading is short, so clicks and redraws go on between them
    # (generous bounds: a loaded machine; a whole 30 MB file at once takes far longer).
    assert opened < 5 and longest < 2, (opened, longest)
    shown = viewer.shown_text()
    assert shown.endswith("the very last line\n")
    assert shown.startswith("12:00:00 DEBUG")  # from a whole line on
    assert len(shown) < 5 * 2**20
    assert "This log is 30.0 MB: its last 4.0 MB are shown" in text_of(viewer.note)
    viewer.close()


def test_no_command_line_option_reaches_the_wizard_with_providers_limits(wizard, src, dst,
                                                                          tmp_path):
    """Gmail as the source (KIMT's own daily budget) and Microsoft 365 as the destination
    (4 messages a second): the status page's notices, the result page and the Report
    shown in KIMT's log window say the limits in plain words, never a `--` option a
    wizard user cannot set."""
    option = re.compile(r"--[a-z]")
    w = wizard
    src.add_user(JDOE, JDOE_PW)
    dst.add_user(JDOE, "whatever")
    src.append_many(JDOE, "INBOX", [make_message(f"in {i}") for i in range(24)])
    press(w, w.next_button)
    s = w.source_page
    s.preset.set("gmail")
    s.security.set("none")
    type_into(w, s.host, f"{src.host}:{src.port}")
    press(w, w.next_button)
    d = w.destination_page
    d.preset.set("m365")
    d.kind.set("master")
    d.security.set("none")
    type_into(w, d.host, f"{dst.host}:{dst.port}")
    type_into(w, d.logins.admin_user, "admin")
    type_into(w, d.logins.admin_password, ADMIN_PASSWORD)
    press(w, w.next_button)
    w.users_page.load(str(write_csv(tmp_path / "u.csv", [(JDOE, JDOE_PW, "J")])))
    status = w.status_page
    notices: list[str] = []
    configure = status.notice.configure
    status.notice.configure = lambda **kw: (notices.append(kw["text"]) if "text" in kw
                                            else None, configure(**kw))[1]
    press(w, w.next_button)
    until_result(w, timeout=120, what="the result page")
    result = w.result_page
    assert [r.state for r in result.finished.results] == [DONE]
    waited = [n for n in notices if "speed limit" in n]
    assert waited and "4 messages/s" in waited[0], notices
    assert not [n for n in notices if option.search(n)], notices
    assert not option.search(all_text(result)), all_text(result)
    press(w, result.report_button)
    viewer = result.viewers[result.report_path]
    pump(w, lambda: not viewer.loading, what="the Report in its window")
    report = viewer.shown_text()
    assert "Limits: " in report and "KIMT's own daily budget" in report
    assert not option.findall(report), [line for line in report.splitlines()
                                        if option.search(line)]
    viewer.close()
