"""What differs between Windows, macOS and Linux: folders, opening files."""

from .paths import default_log_base, new_run_dir

__all__ = ["default_log_base", "new_run_dir"]
