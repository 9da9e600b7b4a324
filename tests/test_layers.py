"""The layers hold: the records a front end imports do no I/O."""

from __future__ import annotations

import subprocess
import sys


def test_the_event_records_load_no_io():
    """A front end imports the records it renders without the IMAP library or engine."""
    code = ("import sys, kimt.core.events; "
            "print(sorted(m for m in ('imapclient', 'imaplib', 'sqlite3', 'kimt.core.engine') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
