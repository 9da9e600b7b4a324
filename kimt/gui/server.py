"""What the source and destination pages share: host, security, admin login, Test connection.

`ServerPage` turns its fields into a `ServerConfig` (the same record the
CLI builds) and tests it in the background with `survey.try_connection`.
An unknown certificate shows its fingerprint in the page with one button to
trust exactly that certificate; changing the host or security forgets it.
"""

from __future__ import annotations

import tkinter as tk

import ttkbootstrap as ttk

from ..core import survey
from ..core.errors import KimtError
from ..core.servers import ServerConfig, parse_host
from .common import PAD, FieldError, Page, autowrap, labeled_entry, tone
from .settings import ServerSettings

SECURITY_LABELS = {"ssl": "SSL/TLS (port 993)", "starttls": "STARTTLS (port 143)",
                   "none": "None (plain text, only inside a trusted network)"}
STYLE_LABELS = {"authzid": "SASL PLAIN with the user's name (Dovecot, Cyrus, Zimbra)",
                "separator": "user*admin login (Dovecot master user)"}


class ServerPage(Page):
    role = "source"  # or "destination"
    settings_key = "source"

    def __init__(self, master: tk.Misc, wizard):
        super().__init__(master, wizard)
        saved: ServerSettings = getattr(wizard.settings, self.settings_key)
        self.host = tk.StringVar(value=saved.host)
        self.security = tk.StringVar(value=saved.security or "ssl")
        self.kind = tk.StringVar(value=saved.kind)
        self.admin_user = tk.StringVar(value=saved.admin_user)
        self.admin_password = tk.StringVar(value="")  # never remembered
        self.master_style = tk.StringVar(value=saved.master_style or "authzid")
        self.login_name = tk.StringVar(value=saved.login_name or "email")
        self.fingerprint = saved.fingerprint or ""
        self._trusted_for = (self.host.get(), self.security.get())
        self.test_serial = 0
        self.columnconfigure(0, weight=1)

        form = ttk.Frame(self)
        form.grid(row=0, column=0, sticky="we")
        form.columnconfigure(1, weight=1)
        self.host_entry, self.host_error = labeled_entry(
            form, 0, "Server:", self.host, hint="name or address, optionally :port")
        ttk.Label(form, text="Security:").grid(row=2, column=0, sticky="nw", padx=(0, PAD),
                                                pady=(8, 0))
        sec = ttk.Frame(form)
        sec.grid(row=2, column=1, columnspan=2, sticky="w", pady=(8, 0))
        for value, text in SECURITY_LABELS.items():
            ttk.Radiobutton(sec, text=text, value=value, variable=self.security).pack(
                anchor="w", pady=1)
        self.form = form
        self.extra_row = 3
        self.build_specific(form)

        self.admin_frame = ttk.Labelframe(self, text="Admin login", padding=PAD)
        self.admin_frame.grid(row=1, column=0, sticky="we", pady=(PAD, 0))
        self.admin_frame.columnconfigure(1, weight=1)
        self.admin_user_entry, self.admin_user_error = labeled_entry(
            self.admin_frame, 0, "Admin user:", self.admin_user)
        self.admin_password_entry, self.admin_password_error = labeled_entry(
            self.admin_frame, 2, "Admin password:", self.admin_password, show="•",
            hint="not remembered")
        ttk.Label(self.admin_frame, text="Admin logs in by:").grid(
            row=4, column=0, sticky="nw", padx=(0, PAD), pady=(8, 0))
        styles = ttk.Frame(self.admin_frame)
        styles.grid(row=4, column=1, columnspan=2, sticky="w", pady=(8, 0))
        for value, text in STYLE_LABELS.items():
            ttk.Radiobutton(styles, text=text, value=value, variable=self.master_style).pack(
                anchor="w", pady=1)

        test = ttk.Frame(self)
        test.grid(row=2, column=0, sticky="we", pady=(PAD * 1.5, 0))
        test.columnconfigure(1, weight=1)
        self.test_button = ttk.Button(test, text="Test connection", command=self.test,
                                      bootstyle="primary-outline")
        self.test_button.grid(row=0, column=0, sticky="nw")
        self.test_result = autowrap(ttk.Label(
            test, text="Optional: checks that the server answers and its certificate, without "
            "logging in.", justify="left", bootstyle="secondary"))
        self.test_result.grid(row=0, column=1, sticky="we", padx=(PAD, 0))
        self.trust_frame = ttk.Frame(test)
        self.trust_button = ttk.Button(self.trust_frame, text="Trust exactly this certificate",
                                       command=self.trust, bootstyle="warning")
        self.trust_button.pack(side="left")
        ttk.Label(self.trust_frame, text="Compare the fingerprint with the one on the server "
                  "first.", bootstyle="secondary").pack(side="left", padx=(PAD, 0))
        self.offered_fingerprint = ""

        for var in (self.host, self.security, self.kind, self.admin_user, self.admin_password,
                    self.master_style, self.login_name):
            var.trace_add("write", self.changed)
        for entry in (self.host_entry, self.admin_user_entry, self.admin_password_entry):
            entry.bind("<Return>", lambda e: self.wizard.next())
        self.update_admin_visibility()

    # -- what each page adds -------------------------------------------------------------

    def build_specific(self, form: ttk.Frame) -> None:
        pass

    def uses_admin(self) -> bool:
        return self.kind.get() == "master"

    # -- state -----------------------------------------------------------------------------

    def changed(self, *_: object) -> None:
        if (self.host.get(), self.security.get()) != self._trusted_for:
            self.fingerprint = ""  # trust belonged to the certificate of another server
            self._trusted_for = (self.host.get(), self.security.get())
        self.update_admin_visibility()
        super().changed()

    def update_admin_visibility(self) -> None:
        if self.uses_admin():
            self.admin_frame.grid()
        else:
            self.admin_frame.grid_remove()

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

    def problem(self) -> str | None:
        host = self.host_problem()
        self.host_error.show(host)
        admin_user = admin_password = None
        if self.uses_admin():
            if not self.admin_user.get().strip():
                admin_user = "Enter the admin's user name"
            if not self.admin_password.get():
                admin_password = "Enter the admin's password"
        self.admin_user_error.show(admin_user)
        self.admin_password_error.show(admin_password)
        return host or admin_user or admin_password

    def config(self) -> ServerConfig:
        """The settings as the engine takes them (only call when problem() is None)."""
        host, port = parse_host(self.host.get())
        admin = self.uses_admin()
        return ServerConfig(
            host=host, port=port, security=self.security.get(),
            fingerprint=self.fingerprint or None,
            auth="master" if admin else "user",
            master_style=self.master_style.get(),
            master_user=self.admin_user.get().strip() if admin else None,
            master_password=self.admin_password.get() if admin else None,
            login_name=self.login_name.get(), role=self.role)

    def remember(self) -> None:
        saved: ServerSettings = getattr(self.wizard.settings, self.settings_key)
        saved.host = self.host.get().strip()
        saved.security = self.security.get()
        saved.kind = self.kind.get()
        saved.admin_user = self.admin_user.get().strip()
        saved.master_style = self.master_style.get()
        saved.login_name = self.login_name.get()
        saved.fingerprint = self.fingerprint

    def on_next(self) -> bool:
        self.remember()
        return True

    # -- Test connection ----------------------------------------------------------------

    def test(self) -> None:
        if self.host_problem():
            self.problem()
            self.host_entry.focus_set()
            return
        config = self.config().with_(auth="user", master_password=None, master_user=None)
        self.test_serial += 1
        serial = self.test_serial
        self.trust_frame.grid_remove()
        self.test_button.configure(state="disabled")
        tone(self.test_result, "muted", f"Connecting to {config.address}…")
        self.wizard.tasks.run(survey.try_connection, config,
                              done=lambda answer: self.tested(serial, answer),
                              failed=lambda e: self.tested(serial, survey.ConnectionTest(
                                  False, f"Unexpected error: {e}")))

    def tested(self, serial: int, answer: survey.ConnectionTest) -> None:
        if serial != self.test_serial or not self.winfo_exists():
            return
        self.test_button.configure(state="normal")
        tone(self.test_result, "ok" if answer.ok else "danger", answer.text)
        if answer.untrusted_fingerprint:
            self.offered_fingerprint = answer.untrusted_fingerprint
            tone(self.test_result, "warning")
            self.trust_frame.grid(row=1, column=1, sticky="w", padx=(PAD, 0), pady=(PAD, 0))

    def trust(self) -> None:
        self.fingerprint = self.offered_fingerprint
        self._trusted_for = (self.host.get(), self.security.get())
        self.trust_frame.grid_remove()
        self.test()


class SourcePage(ServerPage):
    title = "Source server"
    subtitle = ("The old server the mail comes from. KIMT only reads it: nothing there is "
                "changed or deleted.")
    role = "source"
    settings_key = "source"

    def build_specific(self, form: ttk.Frame) -> None:
        ttk.Label(form, text="Users log in with:").grid(row=3, column=0, sticky="nw",
                                                        padx=(0, PAD), pady=(8, 0))
        names = ttk.Frame(form)
        names.grid(row=3, column=1, columnspan=2, sticky="w", pady=(8, 0))
        for value, text in (("email", "their full address (jdoe@example.com)"),
                            ("local", "the part before @ (jdoe)")):
            ttk.Radiobutton(names, text=text, value=value, variable=self.login_name).pack(
                anchor="w", pady=1)
        self.use_admin = tk.BooleanVar(value=self.kind.get() == "master")
        ttk.Checkbutton(form, text="Log in as an admin for every user (optional; then the "
                        "users' passwords are not needed)", variable=self.use_admin,
                        command=lambda: self.kind.set("master" if self.use_admin.get()
                                                      else "user")
                        ).grid(row=4, column=1, columnspan=2, sticky="w", pady=(10, 0))


class DestinationPage(ServerPage):
    title = "Destination server"
    subtitle = ("The new server the mail goes to. Folders are created there as needed; "
                "messages already there are not copied again.")
    role = "destination"
    settings_key = "target"
    KINDS = (
        ("master", "Dovecot or another server with a master (admin) user"),
        ("user", "Any IMAP server; each user logs in with the password from the users file"),
        ("kerio", "Kerio Connect (creates the accounts) — not available in this version"),
    )

    def build_specific(self, form: ttk.Frame) -> None:
        ttk.Label(form, text="Kind of server:").grid(row=3, column=0, sticky="nw",
                                                     padx=(0, PAD), pady=(8, 0))
        kinds = ttk.Frame(form)
        kinds.grid(row=3, column=1, columnspan=2, sticky="w", pady=(8, 0))
        if self.kind.get() not in ("master", "user"):
            self.kind.set("master")
        for value, text in self.KINDS:
            ttk.Radiobutton(kinds, text=text, value=value, variable=self.kind,
                            state="disabled" if value == "kerio" else "normal").pack(
                anchor="w", pady=1)
        self.kind_error = FieldError(form)
        self.kind_error.grid(row=4, column=1, sticky="w")
