"""The re-annotation prompt: a Jinja template (data, not code), rendered per image.

The built-in prompt is `prompts/face.j2`; `--prompt FILE` replaces it. The environment is
sandboxed and strict like hvgen's benchmark templates (a missing variable is an error naming
the line). Every annotation row stores `prompt_version` — the template's name and a hash of its
text — so rows made with different wordings are never mixed up.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from hvgen.errors import HvgenError
from hvgen.seeding import stable_id

DEFAULT_PROMPT = "face.j2"
PROMPT_VARIABLES = ("key", "file_name")


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded prompt template: its name, its source text and the compiled template."""

    name: str
    source: str
    template: jinja2.Template

    @property
    def version(self) -> str:
        """'face.j2@1a2b3c4d': the name and a hash of the exact text."""
        return f"{self.name}@{stable_id('prompt', self.source, length=8)}"

    def render(self, key: str, image: Path) -> str:
        try:
            text = self.template.render(key=key, file_name=image.name)
        except jinja2.UndefinedError as error:
            raise HvgenError(
                f"prompt template {self.name}: {error.message}. Available variables: {', '.join(PROMPT_VARIABLES)}."
            ) from None
        except SecurityError as error:
            raise HvgenError(
                f"prompt template {self.name} tries something the sandbox forbids ({error}); "
                "use only variables, filters and plain expressions."
            ) from None
        except (jinja2.TemplateError, TypeError) as error:
            raise HvgenError(f"prompt template {self.name} cannot be rendered ({error}).") from None
        text = text.strip()
        if not text:
            raise HvgenError(
                f"prompt template {self.name} renders to an empty prompt; write a question in it."
            )
        return text


def load_prompt(path: Path | None = None) -> PromptTemplate:
    """The built-in face prompt, or the Jinja file at `path`."""
    if path is None:
        name = DEFAULT_PROMPT
        source = (resources.files("hvgen.annotate") / "prompts" / DEFAULT_PROMPT).read_text(encoding="utf-8")
    else:
        name = path.name
        if not path.is_file():
            raise HvgenError(
                f"--prompt {path}: no such file. Give a Jinja text file (variables: {', '.join(PROMPT_VARIABLES)})."
            )
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise HvgenError(f"--prompt {path}: cannot read it as UTF-8 text ({error}).") from None
    environment = SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, autoescape=False
    )
    try:
        template = environment.from_string(source)
        _check_one_file(name, environment.parse(source))
    except jinja2.TemplateSyntaxError as error:
        raise HvgenError(f"prompt template {name} line {error.lineno}: {error.message}.") from None
    return PromptTemplate(name, source, template)


_OTHER_FILES = {jinja2.nodes.Include: "include", jinja2.nodes.Extends: "extends",
                jinja2.nodes.Import: "import", jinja2.nodes.FromImport: "from ... import"}  # fmt: skip


def _check_one_file(name: str, tree: jinja2.nodes.Template) -> None:
    """A prompt template is one file: its hash is the rows' `prompt_version`, which another file's
    text would change unseen. An {% include %} (extends, import) is refused, saying what to do."""
    for kind, tag in _OTHER_FILES.items():
        node = next(tree.find_all(kind), None)
        if node is not None:
            raise HvgenError(
                f"prompt template {name} line {node.lineno}: {{% {tag} %}} is not supported: a prompt template is "
                "one file (its hash is the rows' prompt_version). Paste the other file's text into it instead."
            )
