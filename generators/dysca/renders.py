"""Template renders remembered by what they read: a Dysca plan renders a question per record, but
the question's words depend on a few variables (the subtask, the item asked about), not on the
whole image, so most renders repeat one already made.

A template reads the variables its source names (`jinja2.meta.find_undeclared_variables`) in it
(in the block rendered, when that block calls neither `self` nor `super`) and in every template
it includes, imports or extends; its render is a function of their values
(templates are deterministic: the sandbox has no clock or file, and a template drawing from
Jinja's `random` filter would already differ from run to run). A render is remembered under
those values; a template whose references are not all names (`{% include some_variable %}`),
or whose source cannot be read or parsed, is rendered every time (its error comes from there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import meta, nodes

from hvgen.templating import TemplateSet

_MISSING = object()
_SCALARS = (int, float, bool, type(None))


def frozen(value: Any) -> Any:
    """A hashable stand-in for `value` that equals another's only when they render alike: a str
    is itself; other scalars carry their type (1, 1.0 and True are equal keys but print apart)."""
    kind = type(value)
    if kind is str:
        return value
    if kind is dict:
        return (dict, tuple([(key, frozen(item)) for key, item in value.items()]))
    if kind is list or kind is tuple:
        return (kind, tuple([frozen(item) for item in value]))
    if isinstance(value, _SCALARS) or value is _MISSING:
        return (kind, value)
    raise TypeError(f"no frozen form for {kind.__name__}")


class MemoRenders:
    """`TemplateSet.render` that remembers each result under the values of the variables the
    template (or the block rendered) reads, at most `limit` results, so memory stays bounded."""

    def __init__(self, templates: TemplateSet, limit: int = 50_000) -> None:
        self.templates = templates
        self.limit = limit
        self._reads: dict[tuple[str, str | None], tuple[str, ...] | None] = {}
        self._memo: dict[tuple[Any, ...], str] = {}

    def reads(self, name: str, block: str | None = None) -> tuple[str, ...] | None:
        """The variables a render of template `name` (or of its `block`) reads, with all the
        templates it references, or None when that cannot be known."""
        key = (name, block)
        if key not in self._reads:
            try:
                self._reads[key] = self._closure([self._block_tree(name, block) or self._parse(name)])
            except Exception:  # unreadable or invalid: the render itself reports it, every time
                self._reads[key] = None
        return self._reads[key]

    def _parse(self, name: str) -> nodes.Template:
        env = self.templates.env
        return env.parse(env.loader.get_source(env, name)[0])  # type: ignore[union-attr]

    def _block_tree(self, name: str, block: str | None) -> nodes.Template | None:
        """The block that renders `block` of `name` (its own, else the nearest one it extends), as a
        template of its own; None (read the whole templates) when it calls `self` or `super`."""
        current: str | None = name if block is not None else None
        while current is not None:
            tree = self._parse(current)
            for node in tree.find_all(nodes.Block):
                if node.name == block:
                    if any(used.name in ("self", "super") for used in node.find_all(nodes.Name)):
                        return None
                    alone = nodes.Template([node], lineno=1)
                    alone.set_environment(self.templates.env)
                    return alone
            parents = [node.template for node in tree.find_all(nodes.Extends)]
            current = parents[0].value if parents and isinstance(parents[0], nodes.Const) else None
        return None

    def _closure(self, trees: list[nodes.Template]) -> tuple[str, ...] | None:
        # A variable named like a global (range, namespace ...) hides it: those names count too.
        shadowable = set(self.templates.env.globals)
        names: set[str] = set()
        seen: set[str] = set()
        while trees:
            tree = trees.pop()
            names |= meta.find_undeclared_variables(tree)
            names |= {node.name for node in tree.find_all(nodes.Name)} & shadowable
            for referenced in meta.find_referenced_templates(tree):
                if referenced is None:  # a name computed at render time: anything may be read
                    return None
                if referenced not in seen:
                    seen.add(referenced)
                    trees.append(self._parse(referenced))
        return tuple(sorted(names))

    def render(
        self, name: str, variables: Mapping[str, Any], block: str | None = None, one_line: bool = True
    ) -> str:
        reads = self.reads(name, block)
        if reads is None:
            return self.templates.render(name, variables, block=block, one_line=one_line)
        get = variables.get
        key: list[Any] = [name, block, one_line]
        try:
            for variable in reads:
                value = get(variable, _MISSING)
                key.append(value if type(value) is str else frozen(value))
        except TypeError:  # a value with no frozen form: render it every time
            return self.templates.render(name, variables, block=block, one_line=one_line)
        memo_key = tuple(key)
        text = self._memo.get(memo_key)
        if text is None:
            text = self.templates.render(name, variables, block=block, one_line=one_line)
            if len(self._memo) < self.limit:
                self._memo[memo_key] = text
        return text
