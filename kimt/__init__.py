"""KIMT: moves whole mail accounts from an old IMAP server to a new one."""

__version__ = "0.1.0"
