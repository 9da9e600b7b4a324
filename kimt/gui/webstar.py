"""The source page's 4D WebSTAR section: where its configuration is, and what it holds.

Kerio's 4D migration wizard looked for WSMailboxServer.prefs.xml in
/Applications/4DWebSTAR/MailboxServer and asked for the folder only when
the file was not there; so does this section. The file is read by
`core.webstar` exactly as `4d2kms` reads it, each time the folder changes
(a local file: read at once, no task), and the section shows every post
office with its Kerio domain, aliases and users. A missing or damaged file
is named next to the field. `config` is what the wizard hands to the users
page, which lists the users instead of a users file.
"""

from __future__ import annotations

import os
import tkinter as tk
from collections.abc import Callable
from tkinter import filedialog

import ttkbootstrap as ttk

from ..core.webstar import DEFAULT_FOLDER, MAIN_FILE, WebstarConfig, WebstarError, load
from .common import PAD, SECTION_LABEL_WIDTH, FieldError, autowrap, scrolled_table, tone
from .settings import Settings

COLUMNS = (("office", "Post office", 130), ("domain", "Kerio domain", 150),
           ("aliases", "Aliases (its other domains)", 180), ("users", "Users", 56),
           ("migrate", "To migrate", 90))
NOT_FOUND = (f"{MAIN_FILE} is not in {DEFAULT_FOLDER}: choose the folder of 4D WebSTAR's "
             "Mailbox Server")


class WebstarSection(ttk.Labelframe):
    def __init__(self, master: tk.Misc, settings: Settings, on_change: Callable[[], None]):
        super().__init__(master, text="4D WebSTAR on this computer", padding=(PAD, 4, PAD, 8))
        self.on_change = on_change
        self.config: WebstarConfig | None = None
        self.error = ""
        self.folder = tk.StringVar(value=settings.webstar_folder)
        self.columnconfigure(0, minsize=SECTION_LABEL_WIDTH)
        self.columnconfigure(1, weight=1)
        ttk.Label(self, text="Configuration:").grid(row=0, column=0, sticky="w", pady=(6, 0))
        self.folder_entry = ttk.Entry(self, textvariable=self.folder, width=40)
        self.folder_entry.grid(row=0, column=1, sticky="we", pady=(6, 0))
        self.choose_button = ttk.Button(self, text="Choose folder…", command=self.choose,
                                        bootstyle="secondary-outline")
        self.choose_button.grid(row=0, column=2, sticky="w", padx=(PAD, 0), pady=(6, 0))
        self.folder_error = FieldError(self)
        self.folder_error.grid(row=1, column=1, columnspan=2, sticky="w")
        self.found_label = autowrap(ttk.Label(self, text="", justify="left"))
        self.found_label.grid(row=2, column=0, columnspan=3, sticky="we", pady=(6, 0))
        table, self.tree = scrolled_table(
            self, COLUMNS, numeric=("users", "migrate"), stretch=("aliases",),
            selectmode="none", minwidth=40, tags={"none": "#b02a37"})
        self.tree.configure(height=4)
        table.grid(row=3, column=0, columnspan=3, sticky="we", pady=(4, 0))
        self.folder.trace_add("write", lambda *_: self.read())
        if self.folder.get():
            self.read(tell=False)

    def find(self) -> None:
        """Where Kerio's wizard looked first: the default folder, when nothing is chosen."""
        if self.folder.get().strip() or self.config is not None:
            return
        if os.path.isfile(os.path.join(DEFAULT_FOLDER, MAIN_FILE)):
            self.folder.set(DEFAULT_FOLDER)  # read through the trace
        else:
            self.error = NOT_FOUND
            self.show()

    def choose(self) -> None:
        current = self.folder.get().strip()
        start = current if os.path.isdir(current) else (
            "/Applications" if os.path.isdir("/Applications") else None)
        folder = filedialog.askdirectory(parent=self, initialdir=start, mustexist=True,
                                         title="Folder of 4D WebSTAR's Mailbox Server")
        if folder:
            self.folder.set(folder)

    def read(self, tell: bool = True) -> None:
        text = self.folder.get().strip()
        self.config, self.error = None, ""
        if text:
            try:
                self.config = load(text)
            except WebstarError as e:
                self.error = str(e)
        self.show()
        if tell:
            self.on_change()

    def show(self) -> None:
        self.tree.delete(*self.tree.get_children())
        config = self.config
        if config is None:
            tone(self.found_label, "muted", "")
            return
        for n, po in enumerate(config.post_offices):
            migrate = sum(config.post_office_of.get(a.email.casefold()) == po.name
                          for a in config.accounts)
            self.tree.insert("", "end", iid=str(n), tags=() if migrate else ("none",), values=(
                po.name, po.domain or "(no mail domain)", ", ".join(po.aliases),
                len(po.users), migrate))
        text = f"Found {os.path.basename(config.path)}: {config.counts()}."
        if config.left_out:
            text += " The users page lists who is left out, and why. These users move to "\
                    "Kerio Connect: no users file is needed."
        else:
            text += " These users move to Kerio Connect: no users file is needed."
        tone(self.found_label, "ok", text)

    def problem(self) -> str | None:
        text = None
        if self.config is None:
            text = self.error or ("Choose the folder of 4D WebSTAR's Mailbox Server (where "
                                  f"{MAIN_FILE} is)")
        self.folder_error.show(text)
        return text

    def remember(self, settings: Settings) -> None:
        settings.webstar_folder = self.folder.get().strip()
