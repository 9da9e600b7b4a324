"""What differs between Windows, macOS and Linux: folders, opening files, the locks.

(Named `system`: as `kimt/platform` it shadowed the standard library's `platform`
wherever kimt/ itself was on the import path.)
"""

from .children import environ_for_programs
from .endpoint import RaiseEndpoint, ask_to_raise
from .locks import LOCK_NAME, SingleInstance, mailbox_lock, runtime_dir
from .opener import open_path
from .paths import default_log_base, new_run_dir

__all__ = ["LOCK_NAME", "RaiseEndpoint", "SingleInstance", "ask_to_raise",
           "default_log_base", "environ_for_programs", "mailbox_lock", "new_run_dir",
           "open_path", "runtime_dir"]
