"""The script the frozen KIMT starts with (PyInstaller's entry point, see build.spec).

freeze_support() comes first: the engine's worker processes are this same
executable started by multiprocessing's spawn method, and each must turn into
a worker here, before any option is parsed or any window is drawn. The
package's own `python -m kimt` does the same in kimt/__main__.py; this file
lives outside the package so that PyInstaller does not put kimt/ itself on
the import path, where a module of KIMT's could shadow a standard one.
"""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from kimt.cli import main

    raise SystemExit(main())
