"""The destination page's Kerio Connect section: the admin API, how mail is written, passwords.

KIMT creates the missing domains and users through Kerio's admin API before
copying (`core.provision`). The API is on the destination's host at port
4040 unless the admin says otherwise; its self-signed certificate is trusted
by its own fingerprint, with the same "Trust exactly this certificate" step
as the IMAP server's (changing the address forgets it). `provisioning()` is
built by `core.options.kerio_provisioning`, exactly as `kimt migrate
--target-kind kerio` builds it. Generated passwords never appear in the
window: the engine writes them to the Report log only.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable

import ttkbootstrap as ttk

from ..core.errors import CertificateError, KimtError
from ..core.kerio import DEFAULT_PORT, KerioAdmin
from ..core.options import kerio_address, kerio_provisioning
from ..core.provision import KerioProvisioning, check_admin
from ..core.tls import refused_answer
from .common import PAD, SECTION_LABEL_WIDTH, FieldError, Latest, Tasks, TestLine, autowrap, tone
from .settings import ServerSettings

# How the wizard's words say a refused certificate is trusted (the CLI names its option).
KERIO_TRUST_ADVICE = ("trust it on the Destination server page: press Test connection there, "
                      "then \"Trust exactly this certificate\" for the admin API")

WRITE_LABELS = {
    "master": "with Kerio's master authentication (X-MASTERAUTH; works for every run)",
    "user": "by logging in as each user (with the password KIMT sets or the file gives)",
}


class KerioSection(ttk.Labelframe):
    def __init__(self, master: tk.Misc, saved: ServerSettings, target_host: Callable[[], str],
                 tasks: Tasks, on_change: Callable[[], None]):
        super().__init__(master, text="Kerio Connect", padding=(PAD, 4, PAD, 8))
        self.tasks = tasks
        self.target_host = target_host  # the IMAP host typed above ('' while invalid)
        self.on_change = on_change
        self.api = tk.StringVar(value=saved.kerio_api)
        self.user = tk.StringVar(value=saved.kerio_user)
        self.password = tk.StringVar(value="")  # never remembered
        self.write = tk.StringVar(value=saved.kerio_write if saved.kerio_write in WRITE_LABELS
                                  else "master")
        self.master_password = tk.StringVar(value="")  # never remembered
        self.generate = tk.BooleanVar(value=saved.generate_passwords)
        self.fingerprint = saved.kerio_fingerprint
        self._trusted_for = self.address_text()
        self.answers = Latest()  # of Test connection
        self.columnconfigure(0, minsize=SECTION_LABEL_WIDTH)
        self.columnconfigure(1, weight=1)
        self.columnconfigure(3, weight=1)

        def label(row: int, text: str, column: int = 0) -> None:
            ttk.Label(self, text=text).grid(row=row, column=column, sticky="w",
                                            padx=(0 if column == 0 else PAD, PAD), pady=(6, 0))

        label(0, "Admin API:")
        self.api_entry = ttk.Entry(self, textvariable=self.api, width=24)
        self.api_entry.grid(row=0, column=1, sticky="we", pady=(6, 0))
        self.api_hint = ttk.Label(self, text="", bootstyle="secondary")
        self.api_hint.grid(row=0, column=2, columnspan=2, sticky="w", padx=(PAD, 0), pady=(6, 0))
        self.api_error = FieldError(self).watch(self.api_entry)
        self.api_error.grid(row=1, column=1, columnspan=3, sticky="w")

        label(2, "Administrator:")
        self.user_entry = ttk.Entry(self, textvariable=self.user, width=18)
        self.user_entry.grid(row=2, column=1, sticky="we", pady=(6, 0))
        label(2, "Password:", column=2)
        self.password_entry = ttk.Entry(self, textvariable=self.password, width=18, show="•")
        self.password_entry.grid(row=2, column=3, sticky="we", pady=(6, 0))
        self.user_error = FieldError(self).watch(self.user_entry)
        self.user_error.grid(row=3, column=1, sticky="w")
        self.password_error = FieldError(self).watch(self.password_entry)
        self.password_error.grid(row=3, column=3, sticky="w")

        ttk.Label(self, text="Write the mail:").grid(row=4, column=0, sticky="nw", pady=(8, 0))
        ways = ttk.Frame(self)
        ways.grid(row=4, column=1, columnspan=3, sticky="w", pady=(8, 0))
        for value, text in WRITE_LABELS.items():
            ttk.Radiobutton(ways, text=text, value=value, variable=self.write).pack(
                anchor="w", pady=1)
        self.master_label = ttk.Label(self, text="Master password:")
        self.master_label.grid(row=5, column=0, sticky="w", pady=(6, 0))
        self.master_entry = ttk.Entry(self, textvariable=self.master_password, width=18,
                                      show="•")
        self.master_entry.grid(row=5, column=1, sticky="we", pady=(6, 0))
        self.master_hint = ttk.Label(self, text="Kerio: Advanced options, Master authentication",
                                     bootstyle="secondary")
        autowrap(self.master_hint)  # on two lines in a narrow window
        self.master_hint.grid(row=5, column=2, columnspan=2, sticky="we", padx=(PAD, 0),
                              pady=(6, 0))
        self.master_error = FieldError(self).watch(self.master_entry)
        self.master_error.grid(row=6, column=1, columnspan=3, sticky="w")

        self.generate_check = ttk.Checkbutton(
            self, text="Generate strong passwords for new users", variable=self.generate)
        self.generate_check.grid(row=7, column=0, columnspan=4, sticky="w", pady=(10, 0))
        self.generate_note = autowrap(ttk.Label(self, text="", justify="left",
                                                bootstyle="secondary"))
        self.generate_note.grid(row=8, column=0, columnspan=4, sticky="we", pady=(2, 0))
        for var in (self.api, self.user, self.password, self.write, self.master_password,
                    self.generate):
            var.trace_add("write", self._changed)
        self.update_visibility()

    # -- state -----------------------------------------------------------------------------

    def address_text(self) -> str:
        """The admin API's address as used: typed, or the IMAP host at 4040."""
        try:
            host, port = kerio_address(self.api.get(), self.target_host())
        except KimtError:
            return self.api.get().strip()
        return f"{host}:{port}"

    def _changed(self, *_: object) -> None:
        self.update_visibility()
        self.on_change()

    def update_visibility(self) -> None:
        """Hints that follow the fields; the master password only where it is used."""
        if self.address_text() != self._trusted_for:
            self.fingerprint = ""  # trust belonged to another address's certificate
            self._trusted_for = self.address_text()
        host = self.target_host()
        self.api_hint.configure(text=f"empty: {host}:{DEFAULT_PORT}" if host
                                else f"empty: the server above, port {DEFAULT_PORT}")
        for widget in (self.master_label, self.master_entry, self.master_hint):
            if self.write.get() == "master":
                widget.grid()
            else:
                widget.grid_remove()
        if not self.generate.get():
            tone(self.generate_note, "muted", "Without it a new user gets the password in the "
                 "users file's 4th column, or else the old server's password.")
        elif self.write.get() == "user":
            tone(self.generate_note, "warning", "They are written to the Report log only. "
                 "A later run can't log in as these users with them: choose master "
                 "authentication to be able to run again.")
        else:
            tone(self.generate_note, "muted", "They are written to the Report log only "
                 "(shown nowhere else): hand them to the users from there.")

    def problem(self) -> str | None:
        api = user = password = master = None
        try:
            kerio_address(self.api.get(), self.target_host() or "localhost")
        except KimtError as e:
            api = f"Not an address for the admin API: {e}"
        if not self.user.get().strip():
            user = "Enter the admin's name"
        if not self.password.get():
            password = "Enter the password"
        if self.write.get() == "master" and not self.master_password.get():
            master = "Enter the master password, or write as each user"
        self.api_error.show(api)
        self.user_error.show(user)
        self.password_error.show(password)
        self.master_error.show(master)
        return api or user or password or master

    def target_values(self) -> dict:
        """How the destination IMAP login goes (keywords of `options.server_config`)."""
        if self.write.get() == "master":
            return dict(auth="kerio-master", master_password=self.master_password.get())
        return dict(auth="user")

    def provisioning(self, target_host: str) -> KerioProvisioning:
        return kerio_provisioning(self.api.get(), target_host, self.user.get().strip(),
                                  self.password.get(), self.fingerprint or None,
                                  self.generate.get(), trust_advice=KERIO_TRUST_ADVICE)

    def remember(self, saved: ServerSettings) -> None:
        saved.kerio_api = self.api.get().strip()
        saved.kerio_user = self.user.get().strip()
        saved.kerio_write = self.write.get()
        saved.generate_passwords = bool(self.generate.get())
        saved.kerio_fingerprint = self.fingerprint

    # -- Test connection ------------------------------------------------------------------

    def test(self, line: TestLine) -> None:
        """Log in to the admin API and out again; the answer goes to `line`."""
        wanted = self.answers.ask()  # also when not asking: an answer on its way is stale
        if not self.user.get().strip() or not self.password.get():
            line.say("muted", "Enter the Kerio administrator and password to test the admin "
                     "API too.")
            return
        try:
            admin = self.provisioning(self.target_host()).admin
        except KimtError as e:
            line.say("danger", str(e))
            return
        line.say("muted", f"Logging in to the Kerio admin API at {admin.address}…")
        self.tasks.run(check_admin, admin, done=lambda text: self._tested(line, admin, text),
                       failed=lambda e: self._tested(line, admin, e), wanted=wanted)

    def _tested(self, line: TestLine, admin: KerioAdmin, answer: str | BaseException) -> None:
        if isinstance(answer, str):
            line.say("ok", answer)
        elif (isinstance(answer, CertificateError) and answer.fingerprint and answer.problem
              and not admin.fingerprint):
            line.say("warning", refused_answer(f"The Kerio admin API at {admin.address}",
                                               answer.problem, answer.fingerprint),
                     offer=answer.fingerprint)
        elif isinstance(answer, KimtError):
            line.say("danger", str(answer))
        else:
            line.say("danger", f"Unexpected error: {answer}")

    def trust(self, fingerprint: str, line: TestLine) -> None:
        self.fingerprint = fingerprint
        self._trusted_for = self.address_text()
        self.test(line)
