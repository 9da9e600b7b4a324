"""How users log in on one server: the method, the login name, the admin or token fields.

One widget for both server pages. Each page passes its methods in its own
words (the source: own password / an admin for every user / OAuth tokens;
the destination: its kinds of server, Kerio Connect included) and may add a
section of its own for a method (`add_section`). Only the fields of the
chosen method are shown and checked; `values()` are the keyword arguments
of `core.options.server_config`, so the wizard and the CLI build the same
`ServerConfig`. Passwords stay in their StringVars: `remember` writes
everything else into the settings, never a password.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable

import ttkbootstrap as ttk

from ..core.errors import KimtError
from ..core.oauth import split_command
from ..core.options import separator_problem
from .common import LABEL_WIDTH, PAD, SECTION_LABEL_WIDTH, FieldError, autowrap, labeled_entry
from .settings import ServerSettings

COMMAND_NAME = "The token command"


class LoginFields(ttk.Frame):
    def __init__(self, master: tk.Misc, saved: ServerSettings, methods: tuple[tuple[str, str], ...],
                 question: str, token_place: str, on_change: Callable[[], None]):
        super().__init__(master)
        self.on_change = on_change
        self.methods = [value for value, _ in methods]
        kind = saved.kind if saved.kind in self.methods else self.methods[0]
        self.kind = tk.StringVar(value=kind)
        self.login_name = tk.StringVar(value=saved.login_name or "email")
        self.admin_user = tk.StringVar(value=saved.admin_user)
        self.admin_password = tk.StringVar(value="")  # never remembered
        self.master_style = tk.StringVar(value=saved.master_style or "authzid")
        self.separator = tk.StringVar(value=saved.master_separator or "*")
        self.token_command = tk.StringVar(value=saved.oauth_token_command)
        self.sections: dict[str, ttk.Frame] = {}
        self.columnconfigure(1, weight=1)
        self.columnconfigure(0, minsize=LABEL_WIDTH)

        ttk.Label(self, text=question).grid(row=0, column=0, sticky="nw", pady=(8, 0))
        choices = ttk.Frame(self)
        choices.grid(row=0, column=1, columnspan=2, sticky="w", pady=(8, 0))
        for value, text in methods:
            ttk.Radiobutton(choices, text=text, value=value, variable=self.kind).pack(
                anchor="w", pady=1)
        self.names_label = ttk.Label(self, text="Users are known as:")
        self.names_label.grid(row=1, column=0, sticky="nw", pady=(6, 0))
        self.names = ttk.Frame(self)
        self.names.grid(row=1, column=1, columnspan=2, sticky="w", pady=(6, 0))
        for value, text in (("email", "their full address (jdoe@example.com)"),
                            ("local", "the part before @ (jdoe)")):
            ttk.Radiobutton(self.names, text=text, value=value,
                            variable=self.login_name).pack(side="left", padx=(0, PAD))

        self.admin_frame = self._admin_section()
        self.token_frame = self._token_section(token_place)
        self.add_section("master", self.admin_frame)
        self.add_section("xoauth2", self.token_frame)
        for var in (self.kind, self.login_name, self.admin_user, self.admin_password,
                    self.master_style, self.separator, self.token_command):
            var.trace_add("write", self._changed)

    def _admin_section(self) -> ttk.Labelframe:
        frame = ttk.Labelframe(self, text="Admin login (a master user)", padding=(PAD, 4, PAD, 8))
        frame.columnconfigure(0, minsize=SECTION_LABEL_WIDTH)
        frame.columnconfigure(1, weight=1)
        self.admin_user_entry, self.admin_user_error = labeled_entry(
            frame, 0, "Admin user:", self.admin_user)
        self.admin_password_entry, self.admin_password_error = labeled_entry(
            frame, 2, "Admin password:", self.admin_password, show="•", hint="not remembered")
        ttk.Label(frame, text="Admin logs in by:").grid(row=4, column=0, sticky="nw",
                                                         pady=(8, 0))
        styles = ttk.Frame(frame)
        styles.grid(row=4, column=1, columnspan=2, sticky="w", pady=(8, 0))
        ttk.Radiobutton(styles, text="SASL PLAIN with the user's name (Dovecot, Cyrus, Zimbra)",
                        value="authzid", variable=self.master_style).grid(
            row=0, column=0, columnspan=3, sticky="w", pady=1)
        self.separator_radio = ttk.Radiobutton(styles, value="separator",
                                               variable=self.master_style)
        self.separator_radio.grid(row=1, column=0, sticky="w", pady=1)
        self.separator_label = ttk.Label(styles, text="separator:", bootstyle="secondary")
        self.separator_label.grid(row=1, column=1, sticky="w", padx=(PAD, 4))
        self.separator_entry = ttk.Entry(styles, textvariable=self.separator, width=4)
        self.separator_entry.grid(row=1, column=2, sticky="w")
        self.separator_error = FieldError(styles).watch(self.separator_entry)
        self.separator_error.grid(row=2, column=0, columnspan=3, sticky="w")
        return frame

    def _token_section(self, token_place: str) -> ttk.Labelframe:
        frame = ttk.Labelframe(self, text="OAuth access tokens", padding=(PAD, 4, PAD, 8))
        frame.columnconfigure(0, minsize=SECTION_LABEL_WIDTH)
        frame.columnconfigure(1, weight=1)
        self.token_entry, self.token_error = labeled_entry(
            frame, 0, "Token command:", self.token_command, hint="optional")
        autowrap(ttk.Label(
            frame, justify="left", bootstyle="secondary",
            text=f"Leave it empty when {token_place} holds each user's access token. Otherwise "
                 "a command that prints a token for the address it gets on its input (and in "
                 "KIMT_OAUTH_EMAIL), e.g. your provider's tool. Tokens are never remembered or "
                 "logged.")).grid(row=2, column=0, columnspan=3, sticky="we", pady=(4, 0))
        return frame

    def add_section(self, kind: str, frame: ttk.Frame) -> None:
        """Show `frame` (a child of this widget) only while `kind` is chosen."""
        self.sections[kind] = frame
        frame.grid(row=2 + len(self.sections), column=0, columnspan=3, sticky="we",
                   pady=(PAD / 2, 0))
        self.update_visibility()

    # -- state -----------------------------------------------------------------------------

    def _changed(self, *_: object) -> None:
        self.update_visibility()
        self.on_change()

    def update_visibility(self) -> None:
        kind = self.kind.get()
        for name, frame in self.sections.items():
            if name == kind:
                frame.grid()
            else:
                frame.grid_remove()
        if kind == "kerio":  # Kerio knows its users by their address
            self.names_label.grid_remove()
            self.names.grid_remove()
        else:
            self.names_label.grid()
            self.names.grid()
        separator = self.separator.get() or "*"
        self.separator_radio.configure(text=f"user{separator}admin login (Dovecot master user)")
        for widget in (self.separator_label, self.separator_entry):
            if self.master_style.get() == "separator":
                widget.grid()
            else:
                widget.grid_remove()

    def problem(self) -> str | None:
        """What is missing for the chosen method (also shown at its field), or None."""
        kind = self.kind.get()
        user = password = separator = token = None
        if kind == "master":
            if not self.admin_user.get().strip():
                user = "Enter the admin's user name"
            if not self.admin_password.get():
                password = "Enter the admin's password"
            if self.master_style.get() == "separator":
                try:
                    separator_problem(self.separator.get())
                except KimtError as e:
                    separator = str(e)[0].upper() + str(e)[1:]
        if kind == "xoauth2" and self.token_command.get().strip():
            try:
                split_command(self.token_command.get(), COMMAND_NAME)
            except KimtError as e:
                token = str(e)
        self.admin_user_error.show(user)
        self.admin_password_error.show(password)
        self.separator_error.show(separator)
        self.token_error.show(token)
        return user or password or separator or token

    def values(self) -> dict:
        """Keyword arguments for `core.options.server_config`."""
        kind = self.kind.get()
        return dict(auth=kind if kind in ("user", "master", "xoauth2") else "user",
                    master_style=self.master_style.get(),
                    master_user=self.admin_user.get().strip() or None,
                    master_password=self.admin_password.get() or None,
                    master_separator=self.separator.get(),
                    login_name=self.login_name.get(),
                    oauth_token_command=self.token_command.get().strip() or None,
                    command_name=COMMAND_NAME)

    def remember(self, saved: ServerSettings) -> None:
        saved.kind = self.kind.get()
        saved.login_name = self.login_name.get()
        saved.admin_user = self.admin_user.get().strip()
        saved.master_style = self.master_style.get()
        saved.master_separator = self.separator.get()
        saved.oauth_token_command = self.token_command.get().strip()
