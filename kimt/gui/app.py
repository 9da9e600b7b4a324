"""The window and the controller: steps on the left, the page, Back / Next at the bottom.

`main()` is what `kimt` without a command runs: freeze_support first, then
the single-instance lock (a later start asks this window to come to the
front and exits), then the window. `Wizard` is the one thing that knows
every page: it is their `PageHost`, owns the remembered settings and the
run, and passes values between pages (the source server to the users page's
checks, the pages' values into the run). It disables Next while the page
reports a `problem()`, with the page's own words for why beside it; Next
pressed then makes every field of the page say what it lacks
(`Page.reveal_errors`) and puts the keyboard on the first. Pages are shown one
at a time in a `layout.PageView` (a page taller than the window scrolls);
entering one puts the keyboard on its first field, and the steps already done
can be clicked in the sidebar. A migration is built from the pages'
`ServerConfig`s and server kinds (the CLI's presets), the destination's Kerio
account creation, the folder and public folder choices and the selected
accounts into the same `RunRequest` the CLI builds, run by `MigrationRun`
(with "Passwords only" ticked, `PasswordsRun`, as `kimt migrate
--passwords-only`), and followed here:
the status page is shown its events, the result page the outcome. With 4D
WebSTAR as the source, the configuration the source page read goes to the
users page and into the run as `4d2kms` builds it (`options.webstar_request`).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import sys
import tkinter as tk
from pathlib import Path
from tkinter import font as tkfont

import ttkbootstrap as ttk

from ..core.accounts import Account
from ..core.engine import RunRequest
from ..core.errors import KimtError, SettingsError
from ..core.options import describe_users, run_request, webstar_request
from ..core.passwords import PasswordsFinished
from ..core.servers import ServerConfig
from ..core.webstar import WebstarConfig
from ..system import SingleInstance
from . import settings as settings_store
from .common import PAD, ConfirmDialog, Tasks, autowrap
from .layout import PageView, keyboard
from .result import ResultPage
from .run import MigrationRun, PasswordsRequest, PasswordsRun
from .server import DestinationPage, SourcePage
from .status import StatusPage
from .users import UsersPage
from .welcome import WelcomePage

TITLE = "KIMT — mail migration"
ICON = Path(__file__).with_name("icon.png")
WM_CLASS = "kimt"
ALREADY_RUNNING = "KIMT is already running"
NO_WINDOW = 2  # exit code without a display, as for a bad command line
SIZE, MIN_SIZE = (1100, 760), (940, 660)
RUN_POLL_MS = 100  # how often the run's events are drained
ON_TOP_MS = 1500  # raised on request: kept above the others this long, then let go
# As for `kimt migrate`: the destination admin's password, taken out of the
# environment at start so that no worker process inherits it.
TARGET_PASSWORD_VARIABLE = "KIMT_TARGET_PASS"


class Wizard:
    """The controller, and the `PageHost` of every page."""

    def __init__(self, root: ttk.Window, settings: settings_store.Settings | None = None,
                 settings_path: Path | None = None):
        self.root = root
        self.settings_path = settings_path
        self.settings = settings or settings_store.load(settings_path)
        self.tasks = Tasks(root)
        self.run: MigrationRun | PasswordsRun | None = None
        self.last_accounts: list[Account] = []
        self.closing = False
        root.title(TITLE)
        root.protocol("WM_DELETE_WINDOW", self.close)
        root.columnconfigure(1, weight=1)
        root.rowconfigure(0, weight=1)

        side = ttk.Frame(root, padding=(PAD * 1.5, PAD * 2), bootstyle="@chrome")
        side.grid(row=0, column=0, rowspan=2, sticky="ns")
        ttk.Label(side, text="KIMT", font="-size 18 -weight bold",
                  bootstyle="primary @chrome").pack(anchor="w", pady=(0, PAD * 2))
        main = ttk.Frame(root)
        main.grid(row=0, column=1, sticky="nsew")
        main.columnconfigure(0, weight=1)
        main.rowconfigure(2, weight=1)
        self.title_label = ttk.Label(main, text="", font="-size 16 -weight bold")
        self.title_label.grid(row=0, column=0, sticky="w", padx=PAD * 2, pady=(PAD * 1.5, 0))
        self.subtitle_label = ttk.Label(main, text="", justify="left", bootstyle="secondary")
        self.subtitle_label.grid(row=1, column=0, sticky="we", padx=PAD * 2, pady=(4, 0))
        autowrap(self.subtitle_label)
        body = self.page_view = PageView(main)
        body.grid(row=2, column=0, sticky="nsew")

        self.welcome_page = WelcomePage(body, self)
        self.source_page = SourcePage(body, self)
        self.destination_page = DestinationPage(body, self)
        self.users_page = UsersPage(body, self)
        self.status_page = StatusPage(body, self)
        self.result_page = ResultPage(body, self)
        self.pages = [self.welcome_page, self.source_page, self.destination_page,
                      self.users_page, self.status_page, self.result_page]
        self.step_labels = []
        # The current step in bold, in the size of the others (a bare "-weight bold"
        # is 12 points: the sidebar took a quarter of a 1024 px window).
        self.bold = tkfont.nametofont("TkDefaultFont").copy()
        self.bold.configure(weight="bold")
        names = [f"{n}   {'Welcome' if p is self.welcome_page else p.title}"
                 for n, p in enumerate(self.pages, 1)]
        side_width = max(self.bold.measure(name) for name in names) + 4
        for n, name in enumerate(names):
            label = ttk.Label(side, text=name, padding=(0, 6), bootstyle="secondary @chrome")
            label.pack(anchor="w")
            label.bind("<Button-1>", lambda e, n=n: self.go_to(n))
            self.step_labels.append(label)
        ttk.Frame(side, width=side_width, height=0, bootstyle="@chrome").pack()  # (no jumps)
        for page in self.pages:
            body.add(page)

        ttk.Separator(main).grid(row=3, column=0, sticky="we")
        nav = ttk.Frame(main, padding=(PAD * 2, PAD))
        nav.grid(row=4, column=0, sticky="we")
        self.reason_label = ttk.Label(nav, text="", bootstyle="secondary")
        self.reason_label.pack(side="left")
        self.next_button = ttk.Button(nav, text="Next", command=self.next, bootstyle="primary",
                                      width=16)
        self.next_button.pack(side="right")
        # A click on Next while it waits shows what is missing (the button ignores it).
        self.next_button.bind("<ButtonRelease-1>", lambda e: self.next()
                              if str(self.next_button.cget("state")) == "disabled" else None)
        self.back_button = ttk.Button(nav, text="Back", command=self.back,
                                      bootstyle="secondary-outline", width=10)
        self.back_button.pack(side="right", padx=(0, 8))
        self.note_label = ttk.Label(nav, text="")  # what Next acts on (the users selected)
        self.note_label.pack(side="right", padx=(0, PAD))
        root.bind("<Alt-n>", lambda e: self.next())
        root.bind("<Alt-b>", lambda e: self.back())
        keyboard(root)
        self.index = 0
        self.show(0)

    # -- navigation ---------------------------------------------------------------------

    @property
    def page(self):
        return self.pages[self.index]

    def show(self, index: int) -> None:
        self.index = index
        page = self.page
        self.page_view.show(page)
        self.title_label.configure(text=page.title)
        self.subtitle_label.configure(text=page.subtitle)
        page.on_show()
        self.refresh()
        self.root.update_idletasks()  # mapped now: the page's fields can take the focus
        field = page.first_field()
        (field or self.next_button).focus_set()

    def refresh(self) -> None:
        page = self.page
        reason = page.problem()
        running = self.run is not None
        self.next_button.configure(text=page.next_label,
                                   state="disabled" if reason or running else "normal")
        self.back_button.configure(
            state="normal" if page.can_go_back and self.index > 0 and not running
            else "disabled")
        self.page_view.after_idle(self.page_view.fit)  # the page may have grown
        self.reason_label.configure(text=page.reason_words(reason) if reason else "")
        self.note_label.configure(text=page.next_note())
        for n, label in enumerate(self.step_labels):
            label.configure(bootstyle="primary @chrome" if n == self.index
                            else "secondary @chrome",
                            font=self.bold if n == self.index else "",
                            cursor="hand2" if self.can_go_to(n) else "")

    def can_go_to(self, index: int) -> bool:
        """A step in the sidebar can be clicked: a page before this one (completed), while
        no run is going; not the status page, which belongs to a run."""
        return self.run is None and index < self.index and self.pages[index] is not \
            self.status_page

    def go_to(self, index: int) -> None:
        if self.can_go_to(index):
            self.show(index)

    def next(self) -> None:
        if str(self.next_button.cget("state")) == "disabled":
            if self.run is None:  # Next tried: each field says what it lacks
                field = self.page.reveal_errors()
                self.refresh()
                if field is not None:
                    field.focus_set()
            return
        page = self.page
        if page is self.result_page:
            self.close()
            return
        if not page.on_next():
            return
        if page is not self.users_page:  # the users page moves on by starting the run
            self.show(self.index + 1)
        self.save_settings()

    def back(self) -> None:
        if str(self.back_button.cget("state")) == "disabled":
            return
        if self.page is self.result_page:
            self.show(self.pages.index(self.users_page))
        elif self.index > 0:
            self.show(self.index - 1)

    # -- values the pages ask for -------------------------------------------------------

    def source_config(self) -> ServerConfig | None:
        return None if self.source_page.problem() else self.source_page.config()

    def webstar(self) -> WebstarConfig | None:
        return self.source_page.webstar()

    def selected_emails(self) -> list[str]:
        return [a.email for a in self.users_page.selected()]

    def focus_next(self) -> None:
        self.next_button.focus_set()

    def show_server(self, role: str) -> None:
        page = self.source_page if role == "source" else self.destination_page
        self.show(self.pages.index(page))

    # -- the run ------------------------------------------------------------------------

    def start_run(self, accounts: list[Account], workers: int) -> str | None:
        for page in (self.source_page, self.destination_page):
            if page.problem():
                self.show(self.pages.index(page))
                return f"Complete the {page.title.lower()} page first."
        passwords_only = self.users_page.passwords_only()
        try:
            run: MigrationRun | PasswordsRun = (
                PasswordsRun(self.passwords_request(accounts, workers)) if passwords_only
                else MigrationRun(self.build_request(accounts, workers)))
        except KimtError as e:  # problem() checks the fields; this is the last word
            return str(e)
        self.run = run
        self.last_accounts = list(accounts)
        self.status_page.begin(accounts, self.users_page.expected_messages(), passwords_only)
        self.result_page.clear()  # nothing of an earlier run's result carries over
        self.show(self.pages.index(self.status_page))
        run.start()
        self.root.after(RUN_POLL_MS, self.follow_run)
        return None

    def passwords_request(self, accounts: list[Account], workers: int) -> PasswordsRequest:
        """Passwords only (`kimt migrate --passwords-only`): checked on the source, set
        in Kerio Connect when it is the destination."""
        provision = self.destination_page.provisioning()
        webstar = self.webstar()
        users = (webstar.describe() if webstar is not None
                 else describe_users(self.users_page.accounts) if self.users_page.accounts
                 else "")
        return PasswordsRequest(self.source_page.config(), self.destination_page.config(),
                                provision.admin if provision else None, list(accounts), users,
                                workers)

    def build_request(self, accounts: list[Account], workers: int) -> RunRequest:
        """The run the pages ask for, built as the CLI builds it (`options.run_request`;
        from 4D WebSTAR `options.webstar_request`, as `4d2kms`)."""
        source, destination = self.source_page.config(), self.destination_page.config()
        provision = self.destination_page.provisioning()
        folders = self.users_page.folder_rules()
        config = self.webstar()
        script = self.users_page.post_migrate()
        if config is None:
            return run_request(self.users_page.accounts, accounts, source, destination,
                               workers=workers, provision=provision, folders=folders,
                               source_kind=self.source_page.preset_name(),
                               destination_kind=self.destination_page.preset_name(),
                               public_into=self.users_page.public_into(), **script)
        if provision is None:
            raise SettingsError("4D WebSTAR's users move to Kerio Connect: choose it on the "
                                "destination page")
        return webstar_request(config, accounts, source, destination, provision,
                               workers=workers, folders=folders,
                               destination_kind=self.destination_page.preset_name(), **script)

    def follow_run(self) -> None:
        """Show the status page what the engine did since; the result page when it is over."""
        run = self.run
        if run is None:
            return
        for event in run.drain():
            self.status_page.handle(event)
        self.status_page.tick()
        if run.finished is None:
            self.root.after(RUN_POLL_MS, self.follow_run)
            return
        self.run = None
        if self.closing:
            self.destroy()
            return
        if isinstance(run.finished, PasswordsFinished):
            self.result_page.show_passwords(run.finished)
        else:
            self.result_page.show_run(run.finished)
        self.show(self.pages.index(self.result_page))

    def stop_run(self) -> None:
        if self.run is not None and not self.run.stopping:
            self.run.stop()
            self.status_page.show_stopping()

    def run_again(self) -> str | None:
        if self.run is not None or not self.last_accounts:
            return None
        return self.start_run(self.last_accounts, self.users_page.workers_count())

    # -- another start asked for this window -------------------------------------------

    def bring_to_front(self) -> None:
        root = self.root
        root.deiconify()
        root.lift()
        (root.focus_lastfor() or root).focus_force()  # back where the keyboard was
        # Window managers that prevent focus stealing still put a window that is
        # on top (for a moment) in front of the one the user works in.
        root.attributes("-topmost", True)
        root.after(ON_TOP_MS, lambda: root.attributes("-topmost", False))

    # -- closing ------------------------------------------------------------------------

    def save_settings(self) -> None:
        self.source_page.remember()
        self.destination_page.remember()
        self.settings.geometry = self.root.geometry()
        settings_store.save(self.settings, self.settings_path)

    def close(self) -> None:
        if self.run is not None:
            if self.closing:
                return
            dialog = ConfirmDialog(
                self.root, "Stop the migration?",
                "A migration is running. Stop it and close KIMT?\n\nWhat has been copied "
                "stays on the destination; running the migration again later finishes it "
                "without copying anything twice.",
                yes="Stop and close", no="Keep migrating")
            self.confirm_dialog = dialog
            if not dialog.ask():
                return
            if self.run is None:  # it finished while the question was open
                self.destroy()
                return
            self.closing = True
            self.stop_run()
            self.root.after(15000, self._stop_now)  # a batch can't take forever
            return
        self.save_settings()
        self.destroy()

    def _stop_now(self) -> None:
        if self.run is not None:
            self.run.stop_now()

    def destroy(self) -> None:
        self.tasks.close()
        try:
            self.save_settings()
        except tk.TclError:
            pass
        self.root.destroy()


def make_window(settings: settings_store.Settings | None = None,
                settings_path: Path | None = None) -> Wizard:
    """The window with the wizard in it (not yet in its main loop)."""
    # className sets the X11 WM_CLASS ("kimt", "Kimt"): the Linux menu entry's
    # StartupWMClass matches it, so the taskbar shows KIMT's icon for this window.
    root = ttk.Window(title=TITLE, theme="bootstrap-light", size=SIZE, minsize=MIN_SIZE,
                      iconphoto=str(ICON) if ICON.exists() else None, className=WM_CLASS)
    wizard = Wizard(root, settings, settings_path)
    if wizard.settings.geometry:
        fitted = fit_geometry(wizard.settings.geometry, work_area(root))
        if fitted:
            root.geometry(fitted)
    return wizard


# What the screen loses to a taskbar or panel, and to the window's title bar and
# borders: Tk does not know the work area on X11, so a window is kept this far inside.
PANEL, TITLE_BAR, BORDERS = 48, 40, 16


def work_area(root: tk.Misc) -> tuple[int, int]:
    """The largest window (width, height) that fits on the screen with its frame."""
    width = root.winfo_screenwidth() - BORDERS
    height = root.winfo_screenheight() - PANEL - TITLE_BAR
    most_width, most_height = root.wm_maxsize()  # the work area, where the system says it
    return min(width, most_width), min(height, most_height)


def fit_geometry(saved: str, area: tuple[int, int]) -> str | None:
    """The remembered 'WxH+X+Y' made to fit in `area`: never larger (a window
    remembered at full screen comes back as large as fits, not pushed down with
    Next off the screen), never off it. None for a geometry that can't be read."""
    match = re.fullmatch(r"(\d+)x(\d+)([+-]-?\d+)([+-]-?\d+)", saved.strip())
    if not match:
        return None
    width, height = min(int(match[1]), area[0]), min(int(match[2]), area[1])
    width, height = max(width, MIN_SIZE[0]), max(height, MIN_SIZE[1])
    x, y = int(match[3].replace("+", "", 1)), int(match[4].replace("+", "", 1))
    x = max(0, min(x, area[0] - width))
    y = max(0, min(y, area[1] - height))
    return f"{width}x{height}+{x}+{y}"


def already_running() -> None:
    """Tell the user (on the terminal and in a small window in KIMT's own style) and
    return when they click OK."""
    print(f"{ALREADY_RUNNING}: switch to its window.", file=sys.stderr, flush=True)
    try:
        root = already_running_window()
    except tk.TclError:  # no display: the line on the terminal is all we can do
        return
    root.mainloop()


def already_running_window() -> ttk.Window:
    """The small window that says so, OK focused (Space, Return or Escape close it)."""
    root = ttk.Window(title=ALREADY_RUNNING, theme="bootstrap-light", resizable=(False, False),
                      iconphoto=str(ICON) if ICON.exists() else None, className=WM_CLASS)
    frame = ttk.Frame(root, padding=PAD * 2)
    frame.pack(fill="both", expand=True)
    ttk.Label(frame, text=f"{ALREADY_RUNNING}.", font="-size 13 -weight bold").pack(anchor="w")
    ttk.Label(frame, text="Switch to its window: only one KIMT can run at a time.",
              wraplength=420, justify="left").pack(anchor="w", pady=(PAD / 2, 0))
    ok = ttk.Button(frame, text="OK", command=root.destroy, bootstyle="primary", width=10)
    ok.pack(anchor="e", pady=(PAD * 2, 0))
    keyboard(root)
    for key in ("<Return>", "<Escape>"):
        root.bind(key, lambda e: root.destroy())
    root.update_idletasks()
    x = (root.winfo_screenwidth() - root.winfo_reqwidth()) // 2
    y = (root.winfo_screenheight() - root.winfo_reqheight()) // 3
    root.geometry(f"+{x}+{y}")
    ok.focus_force()
    return root


def open_wizard() -> Wizard:
    """The window as `kimt` opens it: the remembered settings, and the destination admin's
    password when KIMT_TARGET_PASS has it (taken out of the environment, as the CLI does)."""
    wizard = make_window()
    password = os.environ.pop(TARGET_PASSWORD_VARIABLE, None)
    if password:
        wizard.destination_page.fill_admin_password(password)
    return wizard


def main() -> int:
    multiprocessing.freeze_support()  # first: a frozen worker process must stop here
    instance = SingleInstance()
    if not instance.acquire():
        if instance.ask_to_raise():
            print(f"{ALREADY_RUNNING}: its window is in front now.", file=sys.stderr,
                  flush=True)
            return 0
        already_running()  # it did not answer: the user has to find it
        return 1
    try:
        try:
            wizard = open_wizard()
        except tk.TclError as e:  # no desktop: an SSH session, a server, a missing XAUTHORITY
            print(f"kimt: the wizard can't open a window here ({e}).\n"
                  "Start it on a desktop, or migrate from the command line: "
                  "kimt migrate --help", file=sys.stderr, flush=True)
            return NO_WINDOW
        # The endpoint's thread must not touch Tk: the request goes through the Tk thread.
        instance.listen(lambda: wizard.tasks.call_soon(wizard.bring_to_front))
        print(f"KIMT started (pid {os.getpid()})", file=sys.stderr, flush=True)
        wizard.root.mainloop()
        return 0
    finally:
        instance.release()
