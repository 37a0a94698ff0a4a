"""How --help shows arguments and options: plain words (RUN_DIR, TEXT, INTEGER, PATH) where
typer's plain help would print Python types ('<str>', '{RUN_DIR}'). Applied by `hvgen.cli` to
every command once the click command is built."""

from __future__ import annotations

import typing
from typing import Any

_METAVARS = {"int": "INTEGER", "integer": "INTEGER", "float": "NUMBER", "str": "TEXT", "text": "TEXT"}


def _plain_argument(param: Any) -> None:
    """Typer's plain help shows an argument as 'RUN_DIR <path>' and, in the usage line, as
    '{RUN_DIR}': Python types and braces a reader does not expect. Show the name alone, as click
    does ('RUN_DIR', '[WHAT]' when optional); the help text says what it is."""
    name = param.display_name_raw + ("..." if param.nargs != 1 else "")
    param.display_type_rich = lambda ctx: ""
    param.get_usage_pieces = lambda ctx: [name if param.required else f"[{name}]"]


def readable_metavars(command: Any) -> None:
    """Options declared without a metavar show their Python type in --help ('<str>', '<list[str]>');
    give them a word instead (TEXT, INTEGER, NUMBER, PATH)."""
    from typer.core import TyperArgument, TyperOption

    for param in command.params:
        if isinstance(param, TyperArgument):
            _plain_argument(param)
            continue
        if not isinstance(param, TyperOption) or param.metavar is not None or param.is_flag or param.count:
            continue
        annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        if typing.get_origin(annotation) is list:
            annotation = typing.get_args(annotation)[0]
        name = getattr(annotation, "__name__", None) or getattr(getattr(param, "type", None), "name", "")
        param.metavar = "PATH" if "path" in str(name).lower() else _METAVARS.get(str(name).lower(), "VALUE")
