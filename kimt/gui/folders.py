""""Advanced: folders": the folder choices of `kimt migrate`, in a small window.

Three lists, one entry a line: folders to leave out, folders to copy only,
and folders to put elsewhere (`SOURCE=DEST`). OK checks them with
`core.folder_rules.folder_rules`, the function behind the command line's
`--exclude-folder`, `--include-folder` and `--map-folder`, so both read
them alike; a mistake is said in the window, which stays open. Below them,
the source's public (shared) folders: left out and listed in the Report (as
without a choice), or copied into one mailbox under "Public Folders/", as
`--public-into` does. The choices are remembered with the other settings
(names, never a secret).
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from dataclasses import dataclass

import ttkbootstrap as ttk

from ..core.errors import KimtError
from ..core.folder_rules import FolderRules, folder_rules
from .common import PAD, tone

NAMES = ("Leave out", "Copy only", "Put elsewhere")  # how an error names each list
HELP = ("Folder names as the old server shows them, with / between a folder and its "
        "subfolder; upper or lower case alike. * stands for any characters, ? for one. A "
        "folder chosen brings its subfolders along. Estimate counts only what will be "
        "copied.")


@dataclass(frozen=True)
class FolderChoices:
    """The three lists as typed (what the settings remember)."""

    exclude: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    maps: tuple[str, ...] = ()
    public_into: str = ""  # the mailbox the public folders go into; "": left out

    def rules(self) -> FolderRules:
        """As the run takes them; raises SettingsError on a mistake."""
        return folder_rules(self.exclude, self.include, self.maps, names=NAMES)

    def summary(self) -> str:
        parts = []
        if self.exclude:
            parts.append(f"{len(self.exclude)} left out")
        if self.include:
            parts.append(f"only {len(self.include)} chosen")
        if self.maps:
            parts.append(f"{len(self.maps)} put elsewhere")
        if self.public_into:
            parts.append(f"public folders into {self.public_into}")
        return "Folders: " + (", ".join(parts) if parts else "all")

    def public_problem(self) -> str | None:
        if self.public_into and "@" not in self.public_into.strip("@"):
            return (f"Public folders: {self.public_into!r} is not a mailbox's address "
                    "(user@domain)")
        return None


def _lines(text: tk.Text) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.get("1.0", "end").splitlines() if line.strip())


class FolderDialog(ttk.Toplevel):
    """The window; `on_ok(choices)` gets the choices once they are good."""

    def __init__(self, master: tk.Misc, choices: FolderChoices,
                 on_ok: Callable[[FolderChoices], None]):
        super().__init__(title="Advanced: folders", transient=master, resizable=(True, True))
        self.on_ok = on_ok
        frame = ttk.Frame(self, padding=PAD * 2)
        frame.pack(fill="both", expand=True)
        frame.columnconfigure(1, weight=1)
        ttk.Label(frame, text=HELP, wraplength=560, justify="left",
                  bootstyle="secondary").grid(row=0, column=0, columnspan=2, sticky="w")
        self.exclude = self._list(frame, 1, "Leave out:", choices.exclude,
                                  "e.g. Trash, or Archive/20* — one a line")
        self.include = self._list(frame, 2, "Copy only:", choices.include,
                                  "empty: every folder; else only these (add INBOX to keep it)")
        self.maps = self._list(frame, 3, "Put elsewhere:", choices.maps,
                               "OLD=NEW a line, e.g. Old Stuff=Archive/Old, or Sent Items=\\Sent "
                               "(the new server's Sent folder); wins over the automatic mapping "
                               "of special folders")
        self.public = tk.StringVar(value="into" if choices.public_into else "skip")
        self.public_into = tk.StringVar(value=choices.public_into)
        ttk.Label(frame, text="Public folders:").grid(row=8, column=0, sticky="nw",
                                                      padx=(0, PAD), pady=(PAD, 0))
        public = ttk.Frame(frame)
        public.grid(row=8, column=1, sticky="we", pady=(PAD, 0))
        public.columnconfigure(1, weight=1)
        self.public_skip = ttk.Radiobutton(
            public, variable=self.public, value="skip",
            text="Leave them out (the Report lists them)")
        self.public_skip.grid(row=0, column=0, columnspan=2, sticky="w")
        self.public_copy = ttk.Radiobutton(public, variable=self.public, value="into",
                                           text="Copy them into the mailbox:")
        self.public_copy.grid(row=1, column=0, sticky="w", pady=(4, 0))
        self.public_entry = ttk.Entry(public, textvariable=self.public_into, width=30)
        self.public_entry.grid(row=1, column=1, sticky="we", padx=(6, 0), pady=(4, 0))
        ttk.Label(public, text="the source's shared folders go under \"Public Folders/\" "
                  "in that mailbox, which must be one of the users migrated",
                  bootstyle="secondary", wraplength=480, justify="left").grid(
            row=2, column=0, columnspan=2, sticky="w")
        self.public_into.trace_add("write", lambda *_: self._public_typed())
        self.error = ttk.Label(frame, text="", wraplength=560, justify="left")
        self.error.grid(row=9, column=0, columnspan=2, sticky="w", pady=(PAD, 0))
        buttons = ttk.Frame(frame)
        buttons.grid(row=10, column=0, columnspan=2, sticky="e", pady=(PAD, 0))
        self.cancel_button = ttk.Button(buttons, text="Cancel", command=self.destroy,
                                        bootstyle="secondary")
        self.cancel_button.pack(side="right")
        self.ok_button = ttk.Button(buttons, text="OK", command=self.ok, bootstyle="primary",
                                    width=10)
        self.ok_button.pack(side="right", padx=(0, PAD))
        self.bind("<Escape>", lambda e: self.destroy())
        self.protocol("WM_DELETE_WINDOW", self.destroy)
        self.update_idletasks()
        x = master.winfo_rootx() + (master.winfo_width() - self.winfo_reqwidth()) // 2
        y = master.winfo_rooty() + (master.winfo_height() - self.winfo_reqheight()) // 3
        self.geometry(f"+{max(0, x)}+{max(0, y)}")
        self.exclude.focus_set()
        self.grab_set()

    def _list(self, frame: ttk.Frame, row: int, label: str, lines: tuple[str, ...],
              hint: str) -> tk.Text:
        ttk.Label(frame, text=label).grid(row=row * 2, column=0, sticky="nw",
                                          padx=(0, PAD), pady=(PAD, 0))
        text = tk.Text(frame, height=3, width=56, wrap="none", undo=True,
                       font="TkFixedFont")
        text.grid(row=row * 2, column=1, sticky="we", pady=(PAD, 0))
        text.insert("1.0", "\n".join(lines))
        ttk.Label(frame, text=hint, bootstyle="secondary", wraplength=480,
                  justify="left").grid(row=row * 2 + 1, column=1, sticky="w")
        return text

    def _public_typed(self) -> None:
        """Typing a mailbox chooses to copy into it; an error about the field is old now."""
        if self.public_into.get().strip():
            self.public.set("into")
        self.error.configure(text="")

    def choices(self) -> FolderChoices:
        public = self.public_into.get().strip() if self.public.get() == "into" else ""
        return FolderChoices(_lines(self.exclude), _lines(self.include), _lines(self.maps),
                             public)

    def ok(self) -> None:
        choices = self.choices()
        if self.public.get() == "into" and not choices.public_into:
            tone(self.error, "danger", "Public folders: enter the mailbox they go into, or "
                                       "leave them out")
            return
        try:
            choices.rules()
        except KimtError as e:
            tone(self.error, "danger", str(e))
            return
        if choices.public_problem():
            tone(self.error, "danger", choices.public_problem())
            return
        self.destroy()
        self.on_ok(choices)
