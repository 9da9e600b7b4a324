"""The users page's run options: what happens besides copying, or instead of it.

A post-migrate script with its time limit (remembered), or "Passwords only"
(never remembered: a run's choice), which makes the run a passwords-only
one. A module of its own because these are about the run, not about the
users: the page asks them for their problem, their keywords for the run and
whether mail is copied at all, and knows nothing of their fields. The script
is checked by `core.script.post_migrate_script`, the function behind
`kimt migrate --post-migrate-script`, so the wizard and the CLI refuse the
same scripts with the same words. The "Passwords only" box stands at the end
of a row of the page (`beside`), next to the folder choices it turns off.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from pathlib import Path
from tkinter import filedialog

import ttkbootstrap as ttk

from ..core.errors import KimtError
from ..core.script import post_migrate_script
from .common import PAD, FieldError, PageHost, autowrap
from .layout import documents_folder

PASSWORDS_NOTE = ("Passwords only, for accounts whose mail was moved by other means: each "
                  "password is tried with a login on the old server (nothing else), then on "
                  "the new one; where the new server has another, KIMT sets it there if it is "
                  "Kerio Connect. Those already the same are left as they are.")
SCRIPT_HINT = "Optional. No shell: the address as argument, the password on standard input."


class RunOptions(ttk.Frame):
    """The post-migrate script's row, and the Passwords only box put in `beside`.

    `on_change` is called when any of them changes; `copy_widgets` are the
    page's widgets that only matter when mail is copied (off with Passwords only).
    """

    def __init__(self, master: tk.Misc, wizard: PageHost, beside: tk.Misc,
                 on_change: Callable[..., None], copy_widgets: tuple[tk.Widget, ...] = ()):
        super().__init__(master)
        self.wizard = wizard  # seen through PageHost, as by a page
        self.on_change = on_change
        self.copy_widgets = copy_widgets
        settings = wizard.settings
        self.columnconfigure(1, weight=1)
        ttk.Label(self, text="After each mailbox, run:").grid(row=0, column=0, sticky="w")
        self.script = tk.StringVar(value=settings.post_migrate_script)
        self.script_entry = ttk.Entry(self, textvariable=self.script)
        self.script_entry.grid(row=0, column=1, sticky="we", padx=6)
        self.script_button = ttk.Button(self, text="Choose…", command=self.choose_script,
                                        bootstyle="secondary-outline")
        self.script_button.grid(row=0, column=2, sticky="w")
        ttk.Label(self, text="time limit:").grid(row=0, column=3, sticky="e", padx=(PAD, 6))
        self.script_minutes = tk.StringVar(value=str(settings.post_migrate_minutes))
        self.minutes_box = ttk.Spinbox(self, from_=1, to=1440, width=4,
                                       textvariable=self.script_minutes)
        self.minutes_box.grid(row=0, column=4, sticky="e")
        ttk.Label(self, text="min").grid(row=0, column=5, sticky="w", padx=(4, 0))
        self.script_error = FieldError(self).watch(self.script_entry)
        self.script_error.grid(row=1, column=1, columnspan=5, sticky="w")
        self.script_hint = autowrap(ttk.Label(
            self, text=SCRIPT_HINT, bootstyle="secondary", justify="left"))
        self.script_hint.grid(row=2, column=1, columnspan=5, sticky="we", padx=6)
        self.only_passwords = tk.BooleanVar(value=False)  # never remembered: a run's choice
        self.passwords_check = ttk.Checkbutton(
            beside, text="Passwords only: copy no mail", variable=self.only_passwords)
        self.passwords_check.pack(side="right")
        self.passwords_note = autowrap(ttk.Label(self, text="", justify="left",
                                                 bootstyle="secondary"))
        self.passwords_note.grid(row=4, column=0, columnspan=6, sticky="we", pady=(4, 0))
        self.passwords_note.grid_remove()
        self.passwords_error = FieldError(self)
        self.passwords_error.grid(row=5, column=0, columnspan=6, sticky="w")
        for var in (self.script, self.script_minutes):
            var.trace_add("write", self.on_change)
        self.only_passwords.trace_add("write", lambda *_: self.passwords_toggled())

    def passwords_only(self) -> bool:
        return bool(self.only_passwords.get())

    def passwords_toggled(self) -> None:
        """Passwords only: the folders and the script don't apply (no mailbox is migrated)."""
        state = "disabled" if self.passwords_only() else "normal"
        for widget in (*self.copy_widgets, self.script_entry, self.script_button,
                       self.minutes_box):
            widget.configure(state=state)
        if self.passwords_only():
            self.passwords_note.configure(text=PASSWORDS_NOTE)
            self.passwords_note.grid()
        else:
            self.passwords_note.grid_remove()
        self.on_change()

    def choose_script(self) -> None:
        current = Path(self.script.get().strip()).expanduser()
        path = filedialog.askopenfilename(
            parent=self, title="Program to run after each mailbox",
            initialdir=str(current.parent) if current.parent.is_dir() and self.script.get().strip()
            else self.wizard.settings.csv_folder or documents_folder())
        if path:
            self.script.set(path)

    def problem(self) -> str | None:
        """What is wrong with the options (also shown at its field), or None."""
        script = None if self.passwords_only() else self.script_problem()
        self.script_error.show(script)
        passwords = self.passwords_problem()
        self.passwords_error.show(passwords)
        return script or passwords

    def passwords_problem(self) -> str | None:
        if not self.passwords_only():
            return None
        source = self.wizard.source_config()
        if source is not None and source.auth != "user":
            return ("Passwords only checks each user's own password on the old server: on "
                    "the source page, choose that users log in with their own password")
        return None

    def script_problem(self) -> str | None:
        """What is wrong with the post-migrate script's fields (None: fine, or none given)."""
        try:
            minutes = int(self.script_minutes.get())
        except (tk.TclError, ValueError):
            return "The time limit is a number of minutes, 1 to 1440"
        if not self.script.get().strip():
            return None
        try:
            post_migrate_script(self.script.get().strip(), minutes)
        except KimtError as e:
            return str(e)[0].upper() + str(e)[1:]
        return None

    def post_migrate(self) -> dict:
        """The run's post-migrate script (keywords of `options.run_request`)."""
        path = self.script.get().strip()
        if not path or self.passwords_only() or self.script_problem():
            return {}
        return dict(post_migrate_script=path,
                    post_migrate_minutes=int(self.script_minutes.get()))

    def remember(self) -> None:
        """The script and its time limit, for the next start (Passwords only never)."""
        settings = self.wizard.settings
        settings.post_migrate_script = self.script.get().strip()
        if not self.script_problem():
            settings.post_migrate_minutes = int(self.script_minutes.get())
