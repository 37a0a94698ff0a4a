"""How a command ends, in one place: an `HvgenError` or a usage error is one 'error:' line on
stderr and exit 2, Ctrl-C one 'interrupted' line and exit 130, and only -v shows a traceback.
`hvgen.cli.main` runs every command through `run_reporting_errors`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.markup import escape

from hvgen.errors import HvgenError
from hvgen.progress import VERBOSE, console, verbosity


def run_reporting_errors(invoke: Callable[[], Any]) -> None:
    """Run `invoke` (the click command's `main(..., standalone_mode=False)`) and turn its outcome
    into an exit: nothing on success, else an exit status with at most one line said."""
    from hvgen import interrupts

    try:
        with interrupts.stop_on_ctrl_c(), interrupts.errors_after_ctrl_c_are_interrupts():
            # not standalone: usage errors come back here to be said in one line like every other
            # error, and an explicit exit code (typer.Exit, --help) is returned instead of raised
            code = invoke()
        if code == 130:  # typer turns Ctrl-C into a silent exit 130
            _say_interrupted()
        if isinstance(code, int) and code != 0:  # success returns normally: main() runs in-process
            sys.exit(code)
    except SystemExit as done:
        if _caused_by_ctrl_c(done):
            _say_interrupted()
        if done.code not in (0, None):
            raise
    except typer.TyperException as error:  # typer's own click: usage errors and the like
        # click's default is three lines (usage, "Try --help", "Error: ..."); one line, as for any
        # other bad input, naming the command whose --help explains it
        message, context = error.format_message(), getattr(error, "ctx", None)
        if type(error).__name__ == "NoArgsIsHelpError":  # a bare `hvgen` / `hvgen score`: the help
            console.print(message, highlight=False, markup=False, soft_wrap=True)
            sys.exit(2)
        if context is not None and "--help" not in message:
            message += f" (see '{context.command_path} --help')"
        console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        sys.exit(getattr(error, "exit_code", 2))
    except typer.Abort:
        _say_interrupted()
        sys.exit(130)
    except HvgenError as error:
        if verbosity() >= VERBOSE:
            console.print_exception()
        # the message is text, not markup: a bracket a user typed ('[red]', '[/x]') or a library's
        # reason in brackets must be printed, never parsed (a stray closing tag would crash here)
        console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        _say_interrupted()
        sys.exit(130)


def _caused_by_ctrl_c(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _say_interrupted() -> None:
    console.print(
        "\n[yellow]interrupted.[/] Finished images and samples are kept (each written atomically and logged once "
        "on disk); run the same command again to resume where it stopped.",
        highlight=False,
    )
