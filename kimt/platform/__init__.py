"""What differs between Windows, macOS and Linux: folders, opening files, the lock."""

from .children import environ_for_programs
from .lock import LOCK_NAME, SingleInstance
from .opener import open_path
from .paths import default_log_base, new_run_dir

__all__ = ["LOCK_NAME", "SingleInstance", "default_log_base", "environ_for_programs",
           "new_run_dir", "open_path"]
