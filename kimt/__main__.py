import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from kimt.system.workers import start_early

    start_early(sys.argv[1:])  # the fork server imports while we do
    from kimt.cli import main

    raise SystemExit(main())
