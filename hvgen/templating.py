"""Jinja templates of a benchmark (prompts, questions, instructions).

Templates are data, as in lm-evaluation-harness: a benchmark's wording lives in
``templates/<bench>/*.j2``, never in Python. The environment is sandboxed (templates may come
from users) and strict (a missing variable is an error naming the template and line, instead of
silently rendering an empty string into a prompt).
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from hvgen.benchmark_data import template_dir
from hvgen.errors import HvgenError
from hvgen.readers.source_folder import SourceFolder
from hvgen.yaml_data import load_yaml_data

_VOWEL_SOUNDS = ("a", "e", "i", "o", "u")


def indefinite(noun: str) -> str:
    """'an apple', 'a cat', 'an IT specialist' (acronym heuristic: 'an' before a leading capital vowel sound)."""
    word = noun.strip()
    first = word.split(" ", 1)[0]
    vowel_sound = word[:1].lower() in _VOWEL_SOUNDS or (first.isupper() and first[:1] in "AEFHILMNORSX")
    return f"{'an' if vowel_sound else 'a'} {word}"


def builtin_template_dir(benchmark: str) -> Path:
    """The folder of a benchmark's shipped templates (works from a wheel or a checkout; a
    plug-in's come from its own package, see `hvgen.benchmark_data`)."""
    return template_dir(benchmark)


_WARNED: set[Path] = set()


def _warn_unmatched_templates(override_dir: Path, builtin: Path) -> None:
    """A file in --templates that replaces no shipped template is most likely misspelled
    (`promt.j2`) and would be ignored: warn once per file, naming it. (Not an error: a new
    helper template that an overridden one includes is legitimate.)"""
    from hvgen.errors import did_you_mean
    from hvgen.progress import warn

    if not override_dir.is_dir():
        return
    shipped = {p.relative_to(builtin).as_posix() for p in builtin.rglob("*") if p.is_file()}
    for path in sorted(override_dir.rglob("*")):
        relative = path.relative_to(override_dir).as_posix()
        if not path.is_file() or relative in shipped or any(part.startswith(".") for part in path.parts):
            continue
        if path.resolve() in _WARNED:
            continue
        _WARNED.add(path.resolve())
        warn(
            f"--templates {override_dir}: {relative} replaces no shipped template{did_you_mean(relative, shipped)}; "
            "it is used only if another template includes it. Name it after the file it should replace."
        )


_DICT_ATTRIBUTES = frozenset(dir(dict))
"""What `getattr` finds on a plain dict (its methods and object's): any other name is a key."""


class _DictKeys:
    """`{{ facts.size }}` of a plain dict, looked up as its key at once: Jinja tries the attribute
    first, and the AttributeError it catches for every such name was the most of a lookup (HERM's
    captions read ~8 a question). The same value, or undefined, as Jinja's `getattr` gives: a name
    that is a dict attribute (`items`, `get`) still goes its way, and so does any other object."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except LookupError:
                return self.undefined(obj=obj, name=attribute)  # type: ignore[attr-defined]
        return super().getattr(obj, attribute)  # type: ignore[misc]


class _Environment(_DictKeys, jinja2.Environment):
    """Shipped templates' environment."""


class _SandboxedEnvironment(_DictKeys, SandboxedEnvironment):
    """User templates' and vocabulary strings' environment (a dict's keys are not checked by the
    sandbox either: only attributes are)."""


def _environment(sandboxed: bool, loader: jinja2.BaseLoader | None = None) -> jinja2.Environment:
    """The sandboxed environment for templates users bring, the plain one for shipped templates;
    the same settings either way, so a template renders the same text in both."""
    environment_class = _SandboxedEnvironment if sandboxed else _Environment
    env = environment_class(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["indefinite"] = indefinite
    return env


class TemplateSet:
    """The templates of one benchmark, optionally overlaid by a user folder (`--templates DIR`).

    With a user folder every template of the set is rendered in the sandbox: a user file may
    replace one that a shipped template includes or extends, so no template of the set is known
    to run only shipped code. Template strings (`render_string`) come from vocabulary files, which
    `--vocab DIR` may replace, so they are always sandboxed. Only the shipped set alone is
    rendered without the sandbox (`sandboxed=True` forces it, for tests)."""

    def __init__(self, benchmark: str, override_dir: Path | None = None, sandboxed: bool = False) -> None:
        search_path = [str(builtin_template_dir(benchmark))]
        if override_dir is not None and not override_dir.is_dir():  # else silently the shipped ones
            raise HvgenError(
                f"--templates {override_dir}: not a folder. Pass a folder of template files (e.g. prompt.j2)."
            )
        if override_dir is not None:
            search_path.insert(0, str(override_dir))
        self.benchmark = benchmark
        self.sandboxed = sandboxed or override_dir is not None
        self.env = _environment(self.sandboxed, _ConfinedLoader(search_path))
        self._string_env = _environment(True, self.env.loader)
        self._cache: dict[str, jinja2.Template] = {}
        self._blocks: dict[tuple[str, str], _Block] = {}
        self._wholes: dict[str, _Whole] = {}
        self._strings: dict[str, jinja2.Template] = {}
        if override_dir is not None:
            _warn_unmatched_templates(override_dir, builtin_template_dir(benchmark))

    def _template(self, name: str) -> jinja2.Template:
        if name not in self._cache:
            try:
                self._cache[name] = self.env.get_template(name)
            except jinja2.TemplateNotFound:
                raise HvgenError(
                    f"template '{name}' not found for benchmark '{self.benchmark}' "
                    f"(looked in {self.env.loader.searchpath})."  # type: ignore[union-attr]
                ) from None
            except jinja2.TemplateSyntaxError as error:
                raise HvgenError(
                    f"syntax error in template '{error.name}' line {error.lineno}: {error.message}"
                ) from None
        return self._cache[name]

    def _find_block_owner(self, name: str, block: str) -> jinja2.Template:
        """The template that defines `block` for `name`: itself, else the nearest ancestor it
        `{% extends %}` (Jinja keeps inherited blocks on the parent, not the child). Found once per
        (template, block) (`_block`): finding it parses the sources of the templates in between."""
        current: str | None = name
        while current is not None:
            template = self._template(current)
            if block in template.blocks:
                return template
            source = self.env.loader.get_source(self.env, current)[0]  # type: ignore[union-attr]
            parents = [node.template.value for node in self.env.parse(source).find_all(jinja2.nodes.Extends)]
            current = parents[0] if parents else None
        raise HvgenError(f"template '{name}' has no block '{block}' (nor does any template it extends).")

    def _whole(self, name: str) -> _Whole:
        """Template `name`, made ready to render whole, once per template."""
        found = self._wholes.get(name)
        if found is None:
            found = self._wholes[name] = _Whole(self.env, self._template(name))
        return found

    def _block(self, name: str, block: str) -> _Block:
        """`block` of `name`, made ready to render, once per (template, block)."""
        key = (name, block)
        found = self._blocks.get(key)
        if found is None:
            found = self._blocks[key] = _Block(self.env, self._find_block_owner(name, block), block)
        return found

    def read_yaml(self, name: str) -> Any:
        """A YAML data file of the template folder (a user's `--templates DIR` copy wins)."""
        try:
            source, filename, _ = self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
        except jinja2.TemplateNotFound:
            raise HvgenError(f"data file '{name}' not found for benchmark '{self.benchmark}'.") from None
        try:
            return load_yaml_data(source)
        except yaml.YAMLError as error:
            raise HvgenError(f"cannot parse {filename}: {error}") from None

    def render(
        self, name: str, variables: Mapping[str, Any], block: str | None = None, one_line: bool = True
    ) -> str:
        """Render a template (or one `{% block %}` of it); `one_line` collapses whitespace so a
        template can be laid out over several lines for readability."""
        try:
            if block is None:
                text = self._whole(name).render(variables)
            else:
                text = self._block(name, block).render(variables)
        except jinja2.UndefinedError as error:
            where = _template_location(error, name)
            raise HvgenError(
                f"template {where}: {error.message}. Available variables: {sorted(variables)}."
            ) from None
        except SecurityError as error:
            raise HvgenError(_unsafe_message(f"template {_template_location(error, name)}", error)) from None
        except (jinja2.TemplateError, RecursionError, TypeError) as error:  # an {% include %} gone wrong
            raise HvgenError(self._failure(f"template {_template_location(error, name)}", error)) from None
        return " ".join(text.split()) if one_line else text.strip()

    def _failure(self, where: str, error: BaseException) -> str:
        """One line for a template that fails at render time: an {% include %} of a file that is in
        no template folder, that includes itself, that is not a name, or that does not parse."""
        folders = ", ".join(self.env.loader.searchpath)  # type: ignore[union-attr]
        if isinstance(error, jinja2.TemplateNotFound):
            return (
                f"{where} includes '{error.name}', which is in no template folder ({folders}); add that file to "
                "your --templates folder, or remove the {% include %}."
            )
        if isinstance(error, jinja2.TemplateSyntaxError):
            return f"syntax error in template '{error.name or where}' line {error.lineno}: {error.message}."
        if isinstance(error, RecursionError):
            return f"{where} includes itself (directly or through another template); remove the loop."
        return (
            f"{where} cannot be rendered ({type(error).__name__}: {error}); an {{% include %}} takes a template "
            "file name in quotes."
        )

    def render_string(self, source: str, variables: Mapping[str, Any], origin: str) -> str:
        """Render a one-line template that lives in a vocabulary file (e.g. OCR prompt templates);
        each source is compiled once (a vocabulary's few templates are rendered for many images,
        and compiling was ~7 ms a time)."""
        try:
            template = self._strings.get(source)
            if template is None:
                template = self._strings[source] = self._string_env.from_string(source)
            return template.render(variables).strip()
        except jinja2.UndefinedError as error:
            raise HvgenError(f"template from {origin} ('{source}'): {error.message}.") from None
        except jinja2.TemplateSyntaxError as error:
            raise HvgenError(
                f"syntax error in template from {origin} ('{source}'): {error.message}."
            ) from None
        except SecurityError as error:
            raise HvgenError(_unsafe_message(f"template from {origin} ('{source[:80]}')", error)) from None
        except (jinja2.TemplateError, RecursionError, TypeError) as error:
            raise HvgenError(self._failure(f"template from {origin} ('{source[:80]}')", error)) from None


class _Whole:
    """A template rendered whole, as `template.render(variables)` renders it, without flattening
    the template's globals (a ChainMap, read twice) into each render's context: a plan renders a
    prompt per image, and that flattening was over half of a short template's cost. The context
    itself is new each time (a whole render fills it: its assignments, its inheritance)."""

    def __init__(self, env: jinja2.Environment, template: jinja2.Template) -> None:
        self.env, self.template = env, template
        self.globals = dict(template.globals)

    def render(self, variables: Mapping[str, Any]) -> str:
        template, globals_ = self.template, self.globals
        context = self.env.context_class(
            self.env, {**globals_, **variables}, template.name, template.blocks, globals=globals_
        )
        try:
            return self.env.concat(template.root_render_func(context))  # type: ignore[attr-defined]
        except Exception:
            self.env.handle_exception()  # what Template.render does: the traceback points at template lines


class _Block:
    """One `{% block %}` of a template, rendered as `template.new_context(variables)` would have
    it rendered, but in a context that is made once and reused: a plan renders a block per
    question, and making the context (flattening the template's globals, a ChainMap read twice,
    then `Context.__init__`'s sets and lists) was over half of a short block's cost. A block's code
    changes nothing in its context but, for a moment, the evaluation context (`{% autoescape %}`
    saves and restores it); its own assignments live in the block's frame, and inheritance (which
    fills the context's blocks) happens in a whole template's render. Each context is lent to one
    render at a time (a free list, so threads and nested renders get their own) and dropped when a
    render fails, however far it got."""

    def __init__(self, env: jinja2.Environment, owner: jinja2.Template, block: str) -> None:
        self.env, self.owner, self.function = env, owner, owner.blocks[block]
        self.globals = dict(owner.globals)
        self.free: list[jinja2.runtime.Context] = []

    def render(self, variables: Mapping[str, Any]) -> str:
        try:
            context = self.free.pop()
        except IndexError:
            context = self.env.context_class(
                self.env, {}, self.owner.name, self.owner.blocks, globals=self.globals
            )
        context.parent = {**self.globals, **variables}
        text = "".join(self.function(context))  # an error leaves the context unreturned
        context.parent = _EMPTY
        self.free.append(context)
        return text


_EMPTY: dict[str, Any] = {}
"""A lent context's variables between renders (it holds on to nothing)."""


class _ConfinedLoader(jinja2.FileSystemLoader):
    """Jinja's file loader, refusing a template reached through a symbolic link that leads out of
    its folder: a --templates folder from an archive could otherwise read any file on the machine
    into the prompts and questions hvgen publishes (as source folders, hvgen.readers.source_folder)."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Any]:
        source, filename, uptodate = super().get_source(environment, template)
        folders = SourceFolder([Path(folder) for folder in self.searchpath])
        if not folders.contains(filename):
            raise HvgenError(
                f"template '{template}' is reached through a symbolic link that leads outside its folder; hvgen "
                "reads only files inside the folders it is given: copy the file into the --templates folder."
            )
        return source, filename, uptodate


def _unsafe_message(where: str, error: Exception) -> str:
    return (
        f"{where} tries something the sandbox forbids ({error}). Templates may only use variables, "
        "filters and plain expressions; remove that part."
    )


def _template_location(error: BaseException, fallback: str) -> str:
    """'name.j2 line N' from the traceback Jinja rewrites to point at template lines."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.endswith(".j2"):
            return f"'{Path(frame.filename).name}' line {frame.lineno}"
    return f"'{fallback}'"
