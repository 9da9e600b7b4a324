"""Step 1: what KIMT does and what to have ready before starting."""

from __future__ import annotations

import tkinter as tk

import ttkbootstrap as ttk

from .common import PAD, Page, PageHost, autowrap

EXAMPLE = """jdoe@example.com;his-old-password;John Doe
anna@example.com;her-old-password;Anna Nováková"""

PREPARE = [
    ("A users file (CSV)",
     "One user a line: address;password;full name — the password of the old server. "
     "Separators ; , or tab; any usual encoding (detected). For example:"),
    ("An admin account on the new server",
     "A master user (Dovecot and most servers) lets KIMT log in to every new mailbox; "
     "without one, each user's password from the file is used. For Kerio Connect, its "
     "administrator: KIMT creates the missing users there."),
    ("Open network ports",
     "From this computer to both servers: IMAP 993 (SSL/TLS) or 143 (STARTTLS); to Kerio "
     "Connect also 4040 (its administration)."),
]


class WelcomePage(Page):
    title = "Welcome to KIMT"
    subtitle = "Move whole mail accounts from an old IMAP server to a new one."

    def __init__(self, master: tk.Misc, wizard: PageHost):
        super().__init__(master, wizard)
        text = ("KIMT copies every folder and message of each user — with flags "
                "(read, answered, flagged) and original dates — to the new server. "
                "The old server is only read: nothing there is changed or deleted. "
                "You can run a migration again at any time: only what is missing is copied, "
                "nothing is ever duplicated.")
        autowrap(ttk.Label(self, text=text, justify="left")).pack(anchor="w", fill="x")
        ttk.Label(self, text="Have ready:", font="-weight bold").pack(anchor="w",
                                                                      pady=(PAD * 1.5, 4))
        for title, body in PREPARE:
            item = ttk.Frame(self)
            item.pack(anchor="w", fill="x", pady=4)
            ttk.Label(item, text="•  " + title, font="-weight bold").pack(anchor="w")
            autowrap(ttk.Label(item, text=body, justify="left")).pack(
                anchor="w", padx=(20, 0), fill="x")
            if title.startswith("A users file"):
                example = tk.Text(item, height=2, width=60, relief="flat", wrap="none",
                                  font="TkFixedFont", padx=8, pady=6)
                example.insert("1.0", EXAMPLE)
                example.configure(state="disabled")
                example.pack(anchor="w", padx=(20, 0), pady=(4, 0))
        autowrap(ttk.Label(self, text="At the end you get a Report log of what was moved, "
                           "for each user. Press Next to start.", justify="left",
                           bootstyle="secondary")).pack(anchor="w", fill="x",
                                                        pady=(PAD * 1.5, 0))
