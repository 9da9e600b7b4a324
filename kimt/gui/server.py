"""The source and destination pages: host, security, how users log in, Test connection.

`ServerPage` turns its fields into a `ServerConfig` through
`core.options.server_config`, the function the CLI uses, so both build the
same record; how users log in is the `logins.LoginFields` widget. "Test
connection" runs `survey.try_connection` in the background (a newer
test's answer wins over an older one still on its way). An unknown
certificate shows its fingerprint in the page with one button to trust
exactly that certificate; changing the host or security forgets it. With
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
from ..core.provision import KerioProvisioning
from ..core.servers import ServerConfig, parse_host
from ..core.webstar import DEFAULT_IMAP_PORT, WebstarConfig
from .common import LABEL_WIDTH, PAD, FieldError, Latest, Page, PageHost, TestLine, labeled_entry
from .kerio import KerioSection
from .layout import Flow
from .logins import LoginFields
from .settings import ServerSettings
from .webstar import WebstarSection

SECURITY_LABELS = {"ssl": "SSL/TLS (port 993)", "starttls": "STARTTLS (port 143)",
                   "auto": "Detect", "none": "None (plain text)"}
IDLE_TEST_TEXT = ("Optional: checks that the server answers and its certificate, without "
                  "logging in to a mailbox.")


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
        self.fingerprint = saved.fingerprint or ""
        self._trusted_for = (self.host.get(), self.security.get())
        self.test_answers = Latest()
        self.columnconfigure(0, weight=1)
        self.header = ttk.Frame(self)  # a page's own first question (empty: no room taken)
        self.header.grid(row=0, column=0, sticky="we")
        self.header.columnconfigure(0, minsize=LABEL_WIDTH)

        form = ttk.Frame(self)
        form.grid(row=1, column=0, sticky="we")
        form.columnconfigure(0, minsize=LABEL_WIDTH)
        form.columnconfigure(1, weight=1)
        self.host_entry, self.host_error = labeled_entry(
            form, 0, "Server:", self.host, hint="name or address, optionally :port")
        ttk.Label(form, text="Security:").grid(row=2, column=0, sticky="nw", pady=(8, 0))
        sec = Flow(form)  # on two lines in a narrow window
        sec.grid(row=2, column=1, columnspan=2, sticky="we", pady=(8, 0))
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
        for entry in (self.host_entry, self.logins.admin_user_entry,
                      self.logins.admin_password_entry):
            entry.bind("<Return>", lambda e: self.wizard.next())

    # -- what each page adds -------------------------------------------------------------

    def build_specific(self, saved: ServerSettings) -> None:
        pass

    # -- state -----------------------------------------------------------------------------

    def changed(self, *_: object) -> None:
        if (self.host.get(), self.security.get()) != self._trusted_for:
            self.fingerprint = ""  # trust belonged to the certificate of another server
            self._trusted_for = (self.host.get(), self.security.get())
        super().changed()

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
        return host or logins

    def login_values(self) -> dict:
        return self.logins.values()

    def config(self) -> ServerConfig:
        """The settings as the engine takes them (only call when problem() is None)."""
        return server_config(self.role, self.host.get(), security=self.security.get(),
                             fingerprint=self.fingerprint or None, **self.login_values())

    def connection_config(self) -> ServerConfig:
        """Where the server is, with no login: what Test connection needs."""
        return server_config(self.role, self.host.get(), security=self.security.get(),
                             fingerprint=self.fingerprint or None)

    def remember(self) -> None:
        saved: ServerSettings = getattr(self.wizard.settings, self.settings_key)
        saved.host = self.host.get().strip()
        saved.security = self.security.get()
        saved.fingerprint = self.fingerprint
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
        self.wizard.tasks.run(survey.try_connection, config, done=self.tested,
                            failed=lambda e: self.tested(survey.ConnectionTest(
                                False, f"Unexpected error: {e}")),
                            wanted=self.test_answers.ask())

    def tested(self, answer: survey.ConnectionTest) -> None:
        self.test_button.configure(state="normal")
        self.imap_line.say("ok" if answer.ok else "danger", answer.text,
                           offer=answer.untrusted_fingerprint)

    def trust(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self._trusted_for = (self.host.get(), self.security.get())
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
        if self.is_webstar():
            self.logins.grid_remove()
            self.webstar_section.grid()
        else:
            self.webstar_section.grid_remove()
            self.logins.grid()

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

    def config(self) -> ServerConfig:
        if not self.is_webstar():
            return super().config()
        return webstar_source(self.host.get(), None, self.security.get(),
                              self.fingerprint or None)

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
    question = "Kind of server:"
    token_place = "the users file's 4th column (the new password)"
    METHODS = (
        ("user", "Any IMAP server; each user logs in with their password from the users file"),
        ("master", "A server with a master (admin) user: Dovecot, Cyrus, Zimbra…"),
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
