"""`kimt` on the command line: migrate, verify, check, check-csv, 4d2kms, cluster-* (the
wizard without arguments).

A thin layer: it turns options into a `RunRequest`, renders the engine's
events as text, and maps the outcome to an exit code. The options, and the
passwords they point to (a file, the environment or a prompt, never more),
are `cli_options`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from .cli_cluster import COMMANDS as CLUSTER_COMMANDS
from .cli_cluster import coordinator
from .cli_options import (
    EXIT_DAY_OVER,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_STOPPED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    _folder_rules,
    _kerio_provisioning,
    _server_config,
    build_parser,
)
from .core import report, survey
from .core.accounts import AccountList, format_problems, read_accounts
from .core.engine import Engine, RunRequest
from .core.errors import InputError, KimtError
from .core.events import (
    DAY_OVER,
    DONE,
    SCRIPT_FAILED,
    Event,
    FolderProgress,
    MailboxFinished,
    MailboxStarted,
    Notice,
    RunFinished,
    ScriptStarted,
)
from .core.logs import copy_report, log_file_problem
from .core.options import DEFAULT_SCRIPT_MINUTES, run_request
from .core.presets import PRESETS
from .core.provision import domain_words
from .core.provision import summary as provision_summary
from .core.report import plural
from .system.workers import start_early

__all__ = ["build_parser", "build_request", "main"]


# ----------------------------------------------------------------------------- rendering

class ConsoleView:
    """Prints the engine's events: a live line on a terminal, plain lines otherwise."""

    def __init__(self, total: int, quiet: bool, verify: bool):
        self.total = total
        self.quiet = quiet
        self.verify = verify
        self.started = 0
        self.finished = 0
        self.live = sys.stdout.isatty() and not quiet
        self._last_draw = 0.0
        self._live_text = ""
        self.active: dict[str, str] = {}

    def _clear(self) -> None:
        if self.live and self._live_text:
            print("\r" + " " * len(self._live_text) + "\r", end="")
            self._live_text = ""

    def say(self, text: str) -> None:
        if self.quiet:
            return
        self._clear()
        print(text, flush=True)
        self._draw()

    def _draw(self) -> None:
        """One live line: every mailbox in progress with its folder and count."""
        if not self.live or not self.active:
            return
        width = shutil.get_terminal_size((100, 20)).columns - 1
        text = f"  {self.finished}/{self.total} done | " + " | ".join(self.active.values())
        text = text if len(text) <= width else text[: width - 1] + "…"
        self._clear()
        print(text, end="", flush=True)
        self._live_text = text

    def __call__(self, event: Event) -> None:
        match event:
            case MailboxStarted(email=email):
                self.started += 1
                self.say(f"[{self.started}/{self.total}] {email}: "
                         + ("comparing" if self.verify else "migrating"))
            case FolderProgress() if self.live:
                self.active[event.email] = (f"{event.email} '{event.folder}' "
                                            f"{report.number(event.done)}/"
                                            f"{report.number(event.total)}")
                now = time.monotonic()
                if now - self._last_draw >= 0.2 or event.done >= event.total:
                    self._last_draw = now
                    self._draw()
            case Notice(email=email, text=text):
                self.say(f"  ! {email}: {text}")
            case ScriptStarted(email=email, state=state):
                self.active.pop(email, None)  # its mail is done: no more progress to draw
                self.say(f"   {email}: {state}; running the post-migrate script")
            case MailboxFinished(result=r):
                self.finished += 1
                self.active.pop(r.email, None)
                mark = "ok" if r.state == DONE else "!!"
                if self.verify:
                    what = f"{report.number(r.already)} of {report.number(r.total)} there"
                else:
                    what = (f"{report.number(r.copied)} copied, {report.number(r.already)} "
                            f"already there, {len(r.skipped)} skipped, "
                            f"{report.size(r.bytes_copied)}")
                line = f"{mark} {r.email}: {r.state}"
                line += f" — {what} ({report.duration(r.seconds)})" if r.folders else ""
                if r.script is not None and r.script.ok:
                    line += f"; post-migrate script: exit code {r.script.exit_code}"
                if r.state != DONE:
                    line += f"\n   {report.verdict(r, self.verify)}"
                self.say(line)
            case RunFinished():
                self._clear()


# ----------------------------------------------------------------------------- commands

def _load_accounts(args: argparse.Namespace) -> tuple[AccountList, list]:
    accounts = read_accounts(args.users, args.users_encoding)
    chosen = accounts.select([s for s in args.only.split(",") if s.strip()]) if args.only \
        else list(accounts.accounts)
    if not chosen:
        raise InputError(f"{args.users}: no usable users"
                         + (f"\n{format_problems(accounts)}" if accounts.problems else ""))
    return accounts, chosen


def build_request(args: argparse.Namespace, accounts: AccountList, chosen: list,
                  verify: bool) -> RunRequest:
    """The run these options ask for (through `options.run_request`, as the wizard)."""
    if args.timeout <= 0:
        raise InputError("--timeout must be more than 0")
    for option, value in (("--max-bytes-per-second", args.max_bytes_per_second),
                          ("--max-messages-per-second", args.max_messages_per_second)):
        if value is not None and not value > 0:
            raise InputError(f"{option} must be more than 0, not {value:g}")
    if args.max_bytes_per_day is not None and args.max_bytes_per_day < 0:
        raise InputError(f"--max-bytes-per-day can't be negative ({args.max_bytes_per_day})")
    if args.max_connections is not None and args.max_connections < 1:
        raise InputError(f"--max-connections must be at least 1, not {args.max_connections}")
    source = _server_config(args, "source", "source")
    destination = _server_config(args, "target", "destination")
    return run_request(accounts, chosen, source, destination, workers=args.workers,
                       retries=args.retries, batch_mb=args.batch_mb,
                       connections=args.connections, verify=verify,
                       log_dir=args.log_dir, state_dir=args.state_dir,
                       provision=_kerio_provisioning(args, destination),
                       folders=_folder_rules(args), source_kind=args.source_preset,
                       destination_kind=args.target_preset,
                       max_connections=args.max_connections,
                       bytes_per_second=args.max_bytes_per_second,
                       messages_per_second=args.max_messages_per_second,
                       bytes_per_day=args.max_bytes_per_day,
                       public_into=args.public_into,
                       post_migrate_script=getattr(args, "post_migrate_script", None),
                       post_migrate_minutes=getattr(args, "post_migrate_timeout",
                                                    DEFAULT_SCRIPT_MINUTES))


def check_log_file(args: argparse.Namespace) -> None:
    """A --log-file that can't be written is said before the run, not after it."""
    problem = log_file_problem(args.log_file) if args.log_file else None
    if problem:
        raise InputError(f"--log-file: {problem}")


def cmd_run(args: argparse.Namespace, verify: bool) -> int:
    check_log_file(args)
    _folder_rules(args)  # a mistake in them is said before the users file is read
    cluster = coordinator(args)  # a wrong address or a missing extra, said now
    if cluster is not None and getattr(args, "passwords_only", False):
        raise InputError("--passwords-only runs on this computer: leave out --cluster")
    if getattr(args, "passwords_only", False):
        from .cli_passwords import cmd_passwords  # (it imports this module)

        return cmd_passwords(args)
    accounts, chosen = _load_accounts(args)
    if accounts.problems:
        print(format_problems(accounts).rstrip(), file=sys.stderr)
        n = len(accounts.problems)
        print(f"kimt: the {'line' if n == 1 else f'{n} lines'} above "
              f"{'is' if n == 1 else 'are'} left out; the other "
              f"{plural(len(accounts.accounts), 'user')} go on.", file=sys.stderr)
    request = build_request(args, accounts, chosen, verify)
    finished = run_engine(request, ConsoleView(len(chosen), args.quiet, verify), cluster)
    left_out = (f"{plural(len(accounts.problems), 'line')} of the users file "
                f"{'was' if len(accounts.problems) == 1 else 'were'} left out (listed at "
                "the start and in the Report log)." if accounts.problems else "")
    return closing(finished, verify, left_out, args.log_file)


def run_engine(request: RunRequest, view: ConsoleView, cluster=None) -> RunFinished:
    """Run with Ctrl+C as Stop (a second one stops at once) and SIGTERM as stop now;
    with `cluster` (a `cluster.Coordinator`), on its Dask workers."""
    engine = Engine(request, view, cluster)

    def on_signal(signum, frame):
        if engine.stopping:
            view.say("Stopping now.")
            engine.stop_now()
        else:
            view.say("Stopping after the batch in flight… (press Ctrl+C again to stop at once)")
            engine.stop()

    old_int = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, lambda s, f: engine.stop_now())
    try:
        return engine.run()
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def closing(finished: RunFinished, verify: bool, left_out: str = "",
            log_file: str | None = None) -> int:
    """Print how the run ended; the exit code. `left_out`: users the input left out;
    `log_file`: where a copy of the Report goes (a copy that fails makes 0 a 1)."""
    code = _closing(finished, verify, left_out)
    if log_file and finished.report_path:
        try:
            print(f"Report copy: {copy_report(finished.report_path, log_file)}",
                  file=sys.stderr if finished.fatal else sys.stdout)
        except InputError as e:
            print(f"kimt: {e}", file=sys.stderr)
            code = code or EXIT_PROBLEMS
    return code


def _closing(finished: RunFinished, verify: bool, left_out: str) -> int:
    if finished.fatal:
        print(f"kimt: {finished.fatal}", file=sys.stderr)
        print(f"Report log: {finished.report_path}", file=sys.stderr)
        return EXIT_UNREACHABLE
    print()
    if finished.accounts is not None:
        print(provision_summary(finished.accounts))
        for d in finished.accounts.domains:
            print(f"  {d.name}" + (f" ({d.origin})" if d.origin else "")
                  + f": {domain_words(d)}")
    print(report.totals(finished.results, finished.seconds, verify).rstrip())
    print(f"Report log: {finished.report_path}")
    print(f"Debug log:  {finished.debug_path}")
    if finished.stopped:
        print("Stopped. Run the same command again to finish: nothing is copied twice.")
        return EXIT_STOPPED
    incomplete = [r for r in finished.results if r.mail_state != DONE]
    script_failed = [r for r in finished.results if r.state == SCRIPT_FAILED]
    for line in report.closing_lines(finished.results, verify):
        print(line)
    day_over = [r for r in incomplete if r.state == DAY_OVER]
    if day_over and len(day_over) == len(incomplete) and not script_failed and not left_out:
        return EXIT_DAY_OVER  # the totals said when (report.day_over_advice)
    if incomplete:
        print(f"Not complete: {len(incomplete)} of "
              f"{plural(len(finished.results), 'mailbox', 'mailboxes')}, see "
              "the Report log." + ("" if verify else " " + report.next_step(incomplete)))
    elif not verify:
        print("Every message is on the destination.")
    if script_failed:
        print("The post-migrate script failed for "
              f"{plural(len(script_failed), 'mailbox', 'mailboxes')}, listed "
              "in the Report log with its exit code and last lines of output: fix it, then "
              "run it by hand for them, or run again (nothing is copied twice; the script "
              "runs again).")
    if left_out:
        print(left_out)
    return EXIT_OK if not incomplete and not script_failed and not left_out else EXIT_PROBLEMS


def cmd_check(args: argparse.Namespace) -> int:
    accounts, chosen = _load_accounts(args)
    if accounts.problems:
        print(format_problems(accounts).rstrip(), file=sys.stderr)
    source = _server_config(args, "source", "source")
    folders = _folder_rules(args).plus(PRESETS[args.source_preset].folders)
    reached = survey.try_connection(source)
    if not reached.ok:
        print(f"kimt: {reached.text}", file=sys.stderr)
        if reached.untrusted_fingerprint:
            print(f"If you trust exactly this certificate, run again with "
                  f"--source-fingerprint {reached.untrusted_fingerprint}", file=sys.stderr)
        return EXIT_UNREACHABLE
    print(reached.text)
    if reached.offered:
        print(f"Before login the server offers {', '.join(reached.offered)}.")
    source = reached.config or source  # security 'auto' decided once, for every login

    def one(account):
        if args.no_estimate:
            return survey.check_login(source, account), None
        return survey.check_and_estimate(source, account, folders)

    failed = 0
    total = survey.Estimate("", 0, 0, 0)
    with ThreadPoolExecutor(max(1, args.workers)) as pool:
        for login, found in pool.map(one, chosen):
            if not login.ok:
                failed += 1
                print(f"!! {login.email}: failed — {login.reason}")
                continue
            line = f"ok {login.email}"
            if found is not None:
                line += f": {found.describe()}"
                if found.ok:
                    total = survey.Estimate("", total.folders + found.folders,
                                            total.messages + found.messages,
                                            total.bytes + found.bytes)
            print(line, flush=True)
    print(f"\n{len(chosen) - failed} of {len(chosen)} logins work.")
    if not args.no_estimate:
        print(f"Estimate: {total.describe()} to migrate.")
    return EXIT_OK if not failed and not accounts.problems else EXIT_PROBLEMS


def cmd_check_csv(args: argparse.Namespace) -> int:
    accounts = read_accounts(args.file, args.encoding)
    print(format_problems(accounts).rstrip())
    return EXIT_OK if not accounts.problems and accounts.accounts else EXIT_USAGE


def main(argv: Sequence[str] | None = None,
         parser: argparse.ArgumentParser | None = None) -> int:
    """`kimt`; with `parser`, a command of its own (`4d2kms`) whose parser names it."""
    multiprocessing.freeze_support()  # first: a frozen worker process must stop here
    argv = sys.argv[1:] if argv is None else list(argv)
    start_early(argv if parser is None else [parser.prog, *argv])  # `python -m kimt` did
    for stream in (sys.stdout, sys.stderr):  # a DOS code page must not crash on '•••'
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    args = (parser or build_parser()).parse_args(argv)
    name = parser.prog if parser is not None else "kimt"
    try:
        if args.command in ("migrate", "verify"):
            return cmd_run(args, verify=args.command == "verify")
        if args.command == "check":
            return cmd_check(args)
        if args.command == "check-csv":
            return cmd_check_csv(args)
        if args.command in CLUSTER_COMMANDS:
            return CLUSTER_COMMANDS[args.command](args)
        if args.command == "4d2kms":
            from .cli_4d import cmd_4d2kms

            return cmd_4d2kms(args)
        return start_gui()
    except InputError as e:
        print(f"{name}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KimtError as e:
        print(f"{name}: {e}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        print(f"\n{name}: stopped.", file=sys.stderr)
        return EXIT_STOPPED


def start_gui() -> int:
    try:
        from .gui import app
    except ImportError as e:  # e.g. a Python without Tk
        build_parser().print_help()
        print(f"\nThe wizard can't start here ({e}); use 'kimt migrate'.", file=sys.stderr)
        return EXIT_USAGE
    return app.main()
