"""Self-contained copies of the files a harness export ships, with the engine code they use pasted in.

lmms-eval's ``utils.py`` and VLMEvalKit's ``score_grounding.py`` run where hvgen may not be
installed, yet must score exactly as hvgen does (`hvgen score`). So their templates import engine
modules like any hvgen code — ``from hvgen.boxes import parse_boxes  # hvgen: embedded`` — and the
export replaces each such line with that module's source (its docstring and ``from __future__``
line left out). One implementation, never a second copy kept in step by hand; an engine module
offered this way imports nothing but the standard library (see `hvgen.boxes`).
"""

from __future__ import annotations

import ast
import re
from importlib.resources import files

from hvgen.errors import HvgenError

TEMPLATES = "hvgen.publish.formats.templates"
EMBED_MARK = "# hvgen: embedded"
_EMBED_LINE = re.compile(
    rf"^from (hvgen(?:\.\w+)+) import ([\w, ]+?)\s+{re.escape(EMBED_MARK)}$", re.MULTILINE
)


def template_source(name: str) -> str:
    """The text of ``templates/<name>`` as shipped in the package."""
    return (files(TEMPLATES) / name).read_text(encoding="utf-8")


def self_contained(name: str) -> str:
    """``templates/<name>`` with every ``# hvgen: embedded`` import replaced by the module's code."""
    source = template_source(name)
    found = list(_EMBED_LINE.finditer(source))
    if not found:
        raise HvgenError(
            f"{name}: no '{EMBED_MARK}' import to fill in; the template is not the one hvgen ships."
        )
    own = _top_level_names(ast.parse(source), skip_embedded=True)
    for match in reversed(found):
        module, names = match.group(1), [n.strip() for n in match.group(2).split(",") if n.strip()]
        body, defined = module_body(module)
        missing = [n for n in names if n not in defined]
        clashing = sorted((defined - set(names)) & own)
        if missing or clashing:
            problem = (
                f"imports {missing} that {module} does not define" if missing else f"also defines {clashing}"
            )
            raise HvgenError(f"{name}: {problem}; pasting {module} in would change what the file means.")
        block = (
            f"# ---- {module}, pasted in by `hvgen export` (the engine's own code, so this file needs no hvgen) ----\n"
            f"{body.strip()}\n"
            f"# ---- end of {module} ----"
        )
        source = source[: match.start()] + block + source[match.end() :]
    return source


def module_body(module: str) -> tuple[str, set[str]]:
    """The source of an engine module without its docstring and ``from __future__`` imports, and
    the names it defines at top level (functions, classes, assignments)."""
    package, _, leaf = module.rpartition(".")
    source = (files(package) / f"{leaf}.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    for index, node in enumerate(tree.body):
        docstring = index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if docstring or future:
            drop.update(range(node.lineno - 1, (node.end_lineno or node.lineno)))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hvgen"):
            raise HvgenError(
                f"{module} imports {node.module}: only standard-library modules can be pasted in."
            )
    body = "".join(line for number, line in enumerate(lines) if number not in drop)
    return body, _top_level_names(tree, imports=False)


def _top_level_names(tree: ast.Module, skip_embedded: bool = False, imports: bool = True) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif imports and isinstance(node, (ast.Import, ast.ImportFrom)):
            if skip_embedded and isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hvgen"):
                continue
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names
