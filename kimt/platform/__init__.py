"""What differs between Windows, macOS and Linux: folders, opening files."""

from .locks import mailbox_lock, runtime_dir
from .paths import default_log_base, new_run_dir

__all__ = ["default_log_base", "mailbox_lock", "new_run_dir", "runtime_dir"]
