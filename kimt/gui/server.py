"""The source and destination pages: host, security, how users log in, Test connection.

`ServerPage` turns its fields into a `ServerConfig` through
`core.options.server_config`, the function the CLI uses, so both build the
same record; how users log in is the `logins.LoginFields` widget. "Test
connection" runs `survey.try_connection` in the background (a newer
test's answer wins over an older one still on its way). An unknown
certificate shows its fingerprint in the page with one button to trust
exactly that certificate; trust belongs to that host and security (coming
back to them brings it back), and until it is given, Next waits. Changing
the host, port or security clears the test's answer, which was about
another server. With a master user the test also logs in as the admin
(`survey.check_admin`, for the first selected users when there are any)
and says which part failed; the admin login style the server takes is
chosen for the admin, who can still change it. The "Server kind" fills in
a provider's host, security and login method from `core.presets`, the
presets behind the CLI's `--source-preset` / `--target-preset`, and goes
into the run as theirs does. No text here names a command-line option:
the engine is handed the wizard's words for trusting a certificate. With
security Detect the test says what the server speaks (`core.detect`); a run
decides it again, once, before copying. The
destination adds Kerio Connect (`kerio.KerioSection`): its test also logs in
to the admin API, whose certificate is trusted the same way, separately.
The source may instead be 4D WebSTAR on this computer (`webstar.WebstarSection`):
its configuration gives the users, who log in to 4D's IMAP service with their
login name and 4D password (`core.options.webstar_source`, as `4d2kms`), and
the destination is then Kerio Connect.
"""

from __future__ import annotations

import tkinter as tk

import ttkbootstrap as ttk

from ..core import survey
from ..core.errors import KimtError
from ..core.options import server_config, webstar_source
from ..core.presets import PRESETS, preset
from ..core.provision import KerioProvisioning
from ..core.servers import ServerConfig, parse_host
from ..core.webstar import DEFAULT_IMAP_PORT, WebstarConfig
from .common import (
    LABEL_WIDTH,
    PAD,
    FieldError,
    Latest,
    Page,
    PageHost,
    TestLine,
    autowrap,
    labeled_entry,
)
from .kerio import KerioSection
from .layout import Flow
from .logins import LoginFields
from .settings import ServerSettings
from .webstar import WebstarSection

SECURITY_LABELS = {"ssl": "SSL/TLS (port 993)", "starttls": "STARTTLS (port 143)",
                   "auto": "Detect", "none": "None (plain text)"}
IDLE_TEST_TEXT = ("Optional: checks that the server answers and its certificate (and an "
                  "admin's login), without opening a mailbox.")
KIND_LABELS = (("generic", "Generic IMAP"), ("gmail", "Gmail"), ("m365", "Microsoft 365"),
               ("exchange", "Exchange (on-premises)"))
UNTRUSTED = "Trust the certificate above to go on."


def try_server(config: ServerConfig, login: ServerConfig | None,
                emails: list[str]) -> survey.ConnectionTest:
    """Test connection: reach the server; with an admin (`login`), log in as the admin too."""
    reached = survey.try_connection(config)
    if not reached.ok or login is None:
        return reached
    decided = reached.config or config  # security 'auto' decided once
    admin = survey.check_admin(login.with_(security=decided.security, port=decided.port),
                               emails)
    return survey.ConnectionTest(admin.ok, f"{reached.text} {admin.text}", config=decided,
                                 master_style=admin.master_style)


class ServerPage(Page):
    role = "source"  # or "destination"
    settings_key = "source"
    question = "How users log in:"
    token_place = "the users file's password column"
    METHODS: tuple[tuple[str, str], ...] = ()

    def __init__(self, master: tk.Misc, wizard: PageHost):
        super().__init__(master, wizard)
        saved: ServerSettings = getattr(wizard.settings, self.settings_key)
        self.host = tk.StringVar(value=saved.host)
        self.security = tk.StringVar(value=saved.security or "ssl")
        self.preset = tk.StringVar(value=saved.preset if saved.preset in PRESETS else "generic")
        # (host, security, fingerprint): the certificate the admin trusted, and where
        self._trusted = (saved.host.strip(), saved.security or "ssl", saved.fingerprint or "")
        self.untrusted = ""  # the fingerprint the last test offered, not trusted (yet)
        self._admin_missing = False  # the last test had no admin login to try
        self._tested_at = self._where()
        self.test_answers = Latest()
        self.columnconfigure(0, weight=1)
        self.header = ttk.Frame(self)  # a page's own first question (empty: no room taken)
        self.header.grid(row=0, column=0, sticky="we")
        self.header.columnconfigure(0, minsize=LABEL_WIDTH)

        form = ttk.Frame(self)
        form.grid(row=1, column=0, sticky="we")
        form.columnconfigure(0, minsize=LABEL_WIDTH)
        form.columnconfigure(1, weight=1)
        kind_label = ttk.Label(form, text="Server kind:")
        kind_label.grid(row=0, column=0, sticky="nw", pady=(6, 0))
        kinds = Flow(form)  # on two lines in a narrow window
        kinds.grid(row=0, column=1, columnspan=2, sticky="we", pady=(6, 0))
        for value, text in KIND_LABELS:
            kinds.add(ttk.Radiobutton(kinds, text=text, value=value, variable=self.preset))
        self.preset_hint = autowrap(ttk.Label(form, text=preset(self.preset.get()).words,
                                              bootstyle="secondary", justify="left"))
        self.preset_hint.grid(row=1, column=1, columnspan=2, sticky="we", pady=(2, 0))
        self.preset_widgets = (kind_label, kinds, self.preset_hint)
        self.host_entry, self.host_error = labeled_entry(
            form, 2, "Server:", self.host, hint="name or address, optionally :port")
        ttk.Label(form, text="Security:").grid(row=4, column=0, sticky="nw", pady=(8, 0))
        sec = Flow(form)  # on two lines in a narrow window
        sec.grid(row=4, column=1, columnspan=2, sticky="we", pady=(8, 0))
        self.security_radios = [
            sec.add(ttk.Radiobutton(sec, text=text, value=value, variable=self.security))
            for value, text in SECURITY_LABELS.items()]

        self.logins = LoginFields(self, saved, self.METHODS, self.question, self.token_place,
                                  self.changed)
        self.logins.grid(row=2, column=0, sticky="we")
        self.kind = self.logins.kind
        self.build_specific(saved)

        test = ttk.Frame(self)
        test.grid(row=3, column=0, sticky="we", pady=(PAD, 0))
        test.columnconfigure(1, weight=1)
        self.test_button = ttk.Button(test, text="Test connection", command=self.test,
                                      bootstyle="primary-outline")
        self.test_button.grid(row=0, column=0, sticky="nw")
        self.imap_line = TestLine(test, IDLE_TEST_TEXT, self.trust)
        self.imap_line.grid(row=0, column=1, sticky="we", padx=(PAD, 0))
        self.api_line = TestLine(test, "", self.trust_api)
        self.api_line.grid(row=1, column=1, sticky="we", padx=(PAD, 0), pady=(6, 0))
        self.api_line.grid_remove()

        for var in (self.host, self.security):
            var.trace_add("write", self.changed)
        self.preset.trace_add("write", lambda *_: self.preset_chosen())
        for entry in (self.host_entry, self.logins.admin_user_entry,
                      self.logins.admin_password_entry):
            entry.bind("<Return>", lambda e: self.wizard.next())

    # -- what each page adds -------------------------------------------------------------

    def build_specific(self, saved: ServerSettings) -> None:
        pass

    # -- state -----------------------------------------------------------------------------

    def _where(self) -> tuple[str, str]:
        return self.host.get().strip(), self.security.get()

    @property
    def fingerprint(self) -> str:
        """The certificate trusted for the server as it is now given ('' for none)."""
        host, security, fingerprint = self._trusted
        return fingerprint if (host, security) == self._where() else ""

    def changed(self, *_: object) -> None:
        if self._where() != self._tested_at and hasattr(self, "imap_line"):
            # The answer was about another server (or port, or security): gone with it.
            self._tested_at = self._where()
            self.untrusted = ""
            self.test_answers.forget()
            self.test_button.configure(state="normal")
            self.imap_line.say("muted", self.idle_words())
        super().changed()

    def idle_words(self) -> str:
        if self.fingerprint:
            return (f"The certificate with the fingerprint {self.fingerprint} is trusted for "
                    "this server.")
        return IDLE_TEST_TEXT

    def preset_chosen(self) -> None:
        """A server kind fills in its provider's host, SSL/TLS and a login it takes."""
        chosen = preset(self.preset.get())
        self.preset_hint.configure(text=chosen.words)
        host = self.host.get().strip()
        if chosen.imap_host or host in {p.imap_host for p in PRESETS.values() if p.imap_host}:
            self.host.set(chosen.imap_host)  # a provider's host, never one the admin typed
        if chosen.imap_host:
            self.security.set("ssl")
        methods = [m for m in chosen.logins if m in self.logins.methods]
        if methods and self.kind.get() not in methods:
            self.kind.set(methods[0])
        self.changed()

    def preset_name(self) -> str:
        """The server kind, as `options.run_request` takes it (`presets.PRESETS`)."""
        return self.preset.get()

    def reason_words(self, reason: str) -> str:
        return reason if reason == UNTRUSTED else super().reason_words(reason)

    def host_problem(self) -> str | None:
        text = self.host.get().strip()
        if not text:
            return "Enter the server's name or IP address, e.g. mail.example.com"
        if " " in text:
            return "A server name has no spaces"
        try:
            parse_host(text)
        except KimtError as e:
            return f"Not a server address: {e}"
        return None

    def host_name(self) -> str:
        """The host part of the server field ('' while it is not valid)."""
        try:
            return parse_host(self.host.get())[0] if not self.host_problem() else ""
        except KimtError:
            return ""

    def problem(self) -> str | None:
        host = self.host_problem()
        self.host_error.show(host)
        logins = self.logins.problem()  # always: each field shows its own line
        return host or logins or (UNTRUSTED if self.untrusted else None)

    def trust_advice(self) -> str:
        """How a refused certificate is trusted, in the wizard's words (for the engine's)."""
        return (f"trust it on the {self.title} page: press Test connection there, then "
                "\"Trust exactly this certificate\"")

    def login_values(self) -> dict:
        return self.logins.values()

    def config(self) -> ServerConfig:
        """The settings as the engine takes them (only call when problem() is None)."""
        return server_config(self.role, self.host.get(), security=self.security.get(),
                             fingerprint=self.fingerprint or None,
                             trust_advice=self.trust_advice(), **self.login_values())

    def connection_config(self) -> ServerConfig:
        """Where the server is, with no login: what Test connection needs."""
        return server_config(self.role, self.host.get(), security=self.security.get(),
                             fingerprint=self.fingerprint or None,
                             trust_advice=self.trust_advice())

    def admin_config(self) -> ServerConfig | None:
        """The server with the admin's login, when users log in through one (complete)."""
        if self.kind.get() != "master" or self.logins.problem():
            return None
        try:
            return self.config()
        except KimtError:
            return None

    def remember(self) -> None:
        saved: ServerSettings = getattr(self.wizard.settings, self.settings_key)
        saved.host = self.host.get().strip()
        saved.security = self.security.get()
        saved.fingerprint = self.fingerprint
        saved.preset = self.preset.get()
        self.logins.remember(saved)

    def fill_admin_password(self, password: str) -> None:
        """Type in the admin's password (a start value; like every password, never saved)."""
        self.logins.admin_password.set(password)

    def on_next(self) -> bool:
        self.remember()
        return True

    # -- Test connection ----------------------------------------------------------------

    def test(self) -> None:
        if self.host_problem():
            self.problem()
            self.host_entry.focus_set()
            return
        config = self.connection_config()
        self.imap_line.say("muted", f"Connecting to {config.address}…")
        self.test_button.configure(state="disabled")
        self._tested_at = self._where()
        login = self.admin_config()
        self._admin_missing = self.kind.get() == "master" and login is None
        self.wizard.tasks.run(try_server, config, login,
                              self.wizard.selected_emails(), done=self.tested,
                              failed=lambda e: self.tested(survey.ConnectionTest(
                                  False, f"Unexpected error: {e}")),
                              wanted=self.test_answers.ask())

    def tested(self, answer: survey.ConnectionTest) -> None:
        self.test_button.configure(state="normal")
        self.untrusted = answer.untrusted_fingerprint or ""
        text = answer.text
        if answer.ok and self._admin_missing:  # a connection alone proves no admin password
            text += " Enter the admin's name and password to test the admin login too."
        if answer.master_style and answer.master_style != self.logins.master_style.get():
            self.logins.master_style.set(answer.master_style)  # what the server takes
            text += " It is chosen above now."
        self.imap_line.say("ok" if answer.ok else "danger", text,
                           offer=answer.untrusted_fingerprint)
        self.wizard.refresh()

    def trust(self, fingerprint: str) -> None:
        self._trusted = (*self._where(), fingerprint)
        self.untrusted = ""
        self.wizard.refresh()
        self.wizard.focus_next()  # the Trust button is gone: the keyboard goes on from Next
        self.test()

    def trust_api(self, fingerprint: str) -> None:
        pass


class SourcePage(ServerPage):
    title = "Source server"
    subtitle = ("The old server the mail comes from. KIMT only reads it: nothing there is "
                "changed or deleted.")
    role = "source"
    settings_key = "source"
    METHODS = (
        ("user", "With their own password from the users file"),
        ("master", "As an admin, for every user (a master user: no user passwords)"),
        ("xoauth2", "With OAuth access tokens (XOAUTH2, for hosted servers)"),
    )
    KINDS = (("imap", "An IMAP server"), ("webstar", "4D WebSTAR on this computer"))

    def build_specific(self, saved: ServerSettings) -> None:
        settings = self.wizard.settings
        self.source_kind = tk.StringVar(value=settings.source_kind)
        ttk.Label(self.header, text="Migrate from:").grid(row=0, column=0, sticky="nw",
                                                           pady=(6, 0))
        kinds = ttk.Frame(self.header)
        kinds.grid(row=0, column=1, sticky="w", pady=(6, 0))
        for value, text in self.KINDS:
            ttk.Radiobutton(kinds, text=text, value=value, variable=self.source_kind).pack(
                side="left", padx=(0, PAD))
        self.webstar_section = WebstarSection(self, settings, self.changed)
        self.webstar_section.grid(row=2, column=0, sticky="we", pady=(PAD / 2, 0))
        self.source_kind.trace_add("write", lambda *_: self.kind_changed())
        self.show_kind()

    def is_webstar(self) -> bool:
        return self.source_kind.get() == "webstar"

    def show_kind(self) -> None:
        """4D WebSTAR: its section instead of the login choices."""
        if self.is_webstar():  # (4D's own IMAP service: no provider's kind)
            self.logins.grid_remove()
            self.webstar_section.grid()
        else:
            self.webstar_section.grid_remove()
            self.logins.grid()
        for widget in self.preset_widgets:
            (widget.grid_remove if self.is_webstar() else widget.grid)()

    def kind_changed(self) -> None:
        if self.is_webstar() and not self.host.get().strip():
            self.host.set(f"localhost:{DEFAULT_IMAP_PORT}")  # its IMAP service, on this computer
            self.security.set("none")
        self.show_kind()
        self.on_show()
        self.changed()

    def on_show(self) -> None:
        if self.is_webstar():  # (not while the window is built: it tells the wizard)
            self.webstar_section.find()

    def problem(self) -> str | None:
        if not self.is_webstar():
            return super().problem()
        host = self.host_problem()
        self.host_error.show(host)
        return host or self.webstar_section.problem()

    def preset_name(self) -> str:
        return "generic" if self.is_webstar() else super().preset_name()

    def config(self) -> ServerConfig:
        if not self.is_webstar():
            return super().config()
        return webstar_source(self.host.get(), None, self.security.get(),
                              self.fingerprint or None).with_(
                                  trust_advice=self.trust_advice())

    def webstar(self) -> WebstarConfig | None:
        """The 4D configuration read, when 4D WebSTAR is the source."""
        return self.webstar_section.config if self.is_webstar() else None

    def remember(self) -> None:
        super().remember()
        self.wizard.settings.source_kind = self.source_kind.get()
        self.webstar_section.remember(self.wizard.settings)


class DestinationPage(ServerPage):
    title = "Destination server"
    subtitle = ("The new server the mail goes to. Folders are created there as needed; "
                "messages already there are not copied again.")
    role = "destination"
    settings_key = "destination"
    question = "How KIMT logs in:"  # (not "Kind of server": that is the row above)
    token_place = "the users file's 4th column (the new password)"
    METHODS = (
        ("user", "Any IMAP server; each user logs in with their password from the users file"),
        ("master", "A server with a master (admin) user: Dovecot, Cyrus, Zimbra and others"),
        ("kerio", "Kerio Connect: KIMT creates the missing domains and users first"),
        ("xoauth2", "A hosted server with OAuth access tokens (XOAUTH2)"),
    )

    def build_specific(self, saved: ServerSettings) -> None:
        self.kerio = KerioSection(self.logins, saved, self.host_name, self.wizard.tasks,
                                  self.changed)
        self.logins.add_section("kerio", self.kerio)
        self.kind_error = FieldError(self)
        self.kind_error.grid(row=4, column=0, sticky="w", pady=(PAD / 2, 0))

    def on_show(self) -> None:
        if self.wizard.webstar() is not None and not self.is_kerio():
            self.kind.set("kerio")  # where Kerio's 4D migration goes

    def changed(self, *_: object) -> None:
        super().changed()
        if hasattr(self, "api_line") and self.kind.get() != "kerio":
            self.api_line.grid_remove()
        if hasattr(self, "kerio"):
            self.kerio.update_visibility()  # its default address follows the host

    def is_kerio(self) -> bool:
        return self.kind.get() == "kerio"

    def problem(self) -> str | None:
        first = super().problem()
        kerio = self.kerio.problem() if self.is_kerio() else None
        kind = None
        if not self.is_kerio() and self.wizard.webstar() is not None:
            kind = ("4D WebSTAR's post offices and users move to Kerio Connect: choose Kerio "
                    "Connect above")
        self.kind_error.show(kind)
        return first or kerio or kind

    def login_values(self) -> dict:
        values = self.logins.values()
        if self.is_kerio():
            values.update(self.kerio.target_values(), login_name="email")
        return values

    def provisioning(self) -> KerioProvisioning | None:
        """The Kerio account creation for the run, None for other kinds."""
        return self.kerio.provisioning(self.host_name()) if self.is_kerio() else None

    def remember(self) -> None:
        super().remember()
        self.kerio.remember(getattr(self.wizard.settings, self.settings_key))

    def test(self) -> None:
        super().test()
        if self.is_kerio() and not self.host_problem():
            self.api_line.grid()
            self.kerio.test(self.api_line)

    def trust_api(self, fingerprint: str) -> None:
        self.kerio.trust(fingerprint, self.api_line)
