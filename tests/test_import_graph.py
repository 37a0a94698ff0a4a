"""Imports flow down: no import cycle among the modules of hvgen/ and generators/ (installed as
`hvgen.generators`), and no upward import between the engine's parts (a part — `hvgen.stages`,
`hvgen.publish`, `hvgen.models` ... — never imports a part that imports it, even indirectly).

Imports are read with `ast`, nothing is imported: module-level ones and those inside functions
alike (a lazy import still ties the two modules), relative ones resolved. An import is an edge
to the module it names: `import a.b` and `from a.b import x` → `a.b`; `from a import b` → `a`
(the statement reads `b` from a's namespace) and, when `b` is a module, `a.b` too. The parent
packages `import a.b.c` runs implicitly are not edges: a package head that re-exports its modules
would otherwise be in a cycle with each of them. Plug-ins loaded by name (`importlib`, entry
points) are not imports either: that is how a registry is meant to find them.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"hvgen": ROOT / "hvgen", "hvgen.generators": ROOT / "generators"}

# Cycles allowed to remain; each entry is the exact set of modules of one cycle (none today).
# The test fails if an entry is stale.
ALLOWED_CYCLES: list[frozenset[str]] = []


def find_modules(packages: dict[str, Path]) -> dict[str, tuple[Path, bool]]:
    """Dotted module name → (file, is a package head), for every .py file under each folder."""
    modules = {}
    for package, folder in packages.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            modules[".".join([package, *parts])] = (path, is_package)
    return modules


def _named(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> list[str]:
    """The dotted names an import statement ties `module` to (see the module docstring)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    submodules = [f"{prefix}.{alias.name}" for alias in node.names if f"{prefix}.{alias.name}" in known]
    if len(submodules) == len(node.names):  # `from . import levels`: the module levels, not the head
        return submodules
    return [prefix, *submodules]


def import_graph(packages: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the modules of `packages` it imports, anywhere in its body."""
    modules = find_modules(packages)
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for module, (path, is_package) in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for name in _named(node, module, is_package, known):
                while name and name not in known:  # `from a.b import f`: the module is a.b
                    name = name.rpartition(".")[0]
                if name and name != module:
                    targets.add(name)
        graph[module] = targets
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """The groups of nodes that reach each other (Tarjan's algorithm, iterative), size > 1."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def a_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One shortest cycle through the component's first node, as a path that ends where it starts."""
    start = min(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node] & component):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"no cycle in {component}")


def part_of(module: str) -> str:
    """The engine part a module belongs to: `hvgen.stages.build.dedup` → `hvgen.stages`; every
    benchmark module → `hvgen.generators`."""
    return ".".join(module.split(".")[:2])


def cycle_report(graph: dict[str, set[str]], components: list[set[str]]) -> str:
    return "\n".join(" → ".join(a_cycle(graph, component)) for component in components)


def test_no_import_cycle_between_modules() -> None:
    graph = import_graph(PACKAGES)
    cycles = strongly_connected(graph)
    unexpected = [component for component in cycles if frozenset(component) not in ALLOWED_CYCLES]
    assert not unexpected, "import cycles (break them: move the shared piece down):\n" + cycle_report(
        graph, unexpected
    )
    stale = [sorted(entry) for entry in ALLOWED_CYCLES if entry not in {frozenset(c) for c in cycles}]
    assert not stale, f"ALLOWED_CYCLES lists cycles that are gone; delete these entries: {stale}"


def test_no_upward_import_between_parts_of_the_engine() -> None:
    graph = import_graph(PACKAGES)
    parts: dict[str, set[str]] = {}
    for module, targets in graph.items():
        parts.setdefault(part_of(module), set()).update(
            part_of(target) for target in targets if part_of(target) != part_of(module)
        )
    lines = []
    for component in strongly_connected(parts):
        lines.append(" → ".join(a_cycle(parts, component)) + "; the imports between these parts:")
        lines += sorted(
            f"    {module} → {target}"
            for module, targets in graph.items()
            for target in targets
            if part_of(module) in component
            and part_of(target) in component
            and part_of(module) != part_of(target)
        )
    assert not lines, "parts of the engine that import each other (one import goes upward):\n" + "\n".join(
        lines
    )


def test_the_graph_sees_relative_and_function_level_imports(tmp_path: Path) -> None:
    """The reader itself: a cycle closed only by a relative import inside a function is found,
    `from pkg import module` ties to the module (Python imports a submodule's package head
    anyway, so a head re-exporting a module that imports a sibling this way is no cycle), and an
    imported name is its module."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "low.py").write_text("def f():\n    from ..top import g\n")
    (package / "sub" / "names.py").write_text("from . import low\nfrom .low import f\n")
    (package / "top.py").write_text("import json\nfrom pkg.sub.low import f\n\n\ndef g():\n    pass\n")
    (package / "other.py").write_text("from pkg import top\n")
    graph = import_graph({"pkg": package})
    assert graph["pkg.sub.low"] == {"pkg.top"}
    assert graph["pkg.top"] == {"pkg.sub.low"}
    assert graph["pkg.sub.names"] == {"pkg.sub.low"}
    assert graph["pkg.other"] == {"pkg.top"}
    assert [sorted(c) for c in strongly_connected(graph)] == [["pkg.sub.low", "pkg.top"]]
    assert a_cycle(graph, {"pkg.sub.low", "pkg.top"}) == ["pkg.sub.low", "pkg.top", "pkg.sub.low"]
