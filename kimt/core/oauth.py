"""XOAUTH2 access tokens from the admin's own command (`--oauth-token-command`).

KIMT does not do OAuth flows itself: every provider (Microsoft 365, Google,
a company's own) has its own, and admins already have a tool that prints a
token (oama, a `gcloud`/`az` wrapper, a script with a service account). KIMT
runs that command once per login and reads the token from its stdout.

The address goes to the command on its **stdin** (one line) and in the
environment as `KIMT_OAUTH_EMAIL` (with `KIMT_OAUTH_SIDE` = source or
destination), never as an argument: an address comes from the users file,
and `--output=/tmp/x@example.com` is a valid address that a command would
take as an option; there is no quoting to get wrong on Windows either. A
wrapper that wants it as an argument writes `tool access "$KIMT_OAUTH_EMAIL"`
inside `sh -c '…'`, where the shell quotes it. The command is run without a
shell by KIMT. The token is a secret: it is never logged, and an error
message shows only the command's exit code and the start of its stderr.
"""

from __future__ import annotations

import os
import shlex
import subprocess

from ..system.children import environ_for_programs
from .errors import LoginError, SettingsError

TIMEOUT = 60.0


def split_command(command: str, name: str = "--oauth-token-command") -> list[str] | str:
    """The argv to run (POSIX quoting rules); Windows takes the line as is.

    `name` is what the admin calls the command in a mistake's message.
    """
    if os.name == "nt":
        return command
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise SettingsError(f"{name}: {e}") from None
    if not argv:
        raise SettingsError(f"{name} is empty")
    return argv


def token_for(command: str, email: str, side: str = "source") -> str:
    """Run the token command for `email`; its first stdout line is the token."""
    env = environ_for_programs({"KIMT_OAUTH_EMAIL": email, "KIMT_OAUTH_SIDE": side})
    try:
        proc = subprocess.run(split_command(command), input=email + "\n", capture_output=True,
                              text=True, timeout=TIMEOUT, env=env)
    except FileNotFoundError:
        raise LoginError(f"the token command {command!r} was not found") from None
    except subprocess.TimeoutExpired:
        raise LoginError(f"the token command gave no token for {email} within "
                         f"{TIMEOUT:g} s") from None
    except OSError as e:
        raise LoginError(f"the token command could not run: {e.strerror or e}") from None
    token = next((ln.strip() for ln in proc.stdout.splitlines() if ln.strip()), "")
    if proc.returncode != 0 or not token:
        why = (proc.stderr.strip().splitlines() or ["no error text"])[0][:200]
        raise LoginError(f"the token command gave no token for {email} (exit code "
                         f"{proc.returncode}: {why})")
    return token
