from __future__ import annotations

from pathlib import Path

import pytest

from hvgen.errors import HvgenError
from hvgen.templating import TemplateSet, indefinite


@pytest.mark.parametrize(
    ("noun", "expected"),
    [
        ("cat", "a cat"),
        ("apple", "an apple"),
        ("IT Specialist", "an IT Specialist"),
        ("Doctor", "a Doctor"),
        ("owl", "an owl"),
    ],
)
def test_indefinite_article(noun: str, expected: str) -> None:
    assert indefinite(noun) == expected


def test_missing_variable_names_template_and_line(tmp_path: Path) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "animal.j2").write_text("{# comment #}\n{{ colour }} {{ animal }}\n")
    templates = TemplateSet("dysca", override_dir=tmp_path)
    with pytest.raises(HvgenError) as error:
        templates.render("content/animal.j2", {"animal": "cat", "color": "red color"})
    message = str(error.value)
    assert "animal.j2" in message and "line 2" in message and "colour" in message


def test_user_templates_override_shipped_ones(tmp_path: Path) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "animal.j2").write_text("a {{ animal }} wearing {{ color }}")
    templates = TemplateSet("dysca", override_dir=tmp_path)
    assert templates.render("content/animal.j2", {"animal": "cat", "color": "red"}) == "a cat wearing red"
    # files the user did not copy still come from the package
    assert (
        templates.render("content/plant.j2", {"plant": "cactus", "background": "indoor"}) == "cactus, indoor"
    )


def test_inherited_blocks_render_for_child_templates() -> None:
    templates = TemplateSet("dysca")
    text = templates.render(
        "questions/animal.j2", {"subtask": "animal", "item": "owl"}, block="true_or_false"
    )
    assert text == "Is there an owl in the picture?"
    assert templates.render("questions/movie.j2", {"subtask": "movie"}, block="multi_choice") == (
        "Which movie is the scene in the picture from?"
    )


def test_sandbox_blocks_unsafe_attribute_access(tmp_path: Path) -> None:
    (tmp_path / "evil.j2").write_text("{{ ''.__class__.__mro__ }}")
    templates = TemplateSet("dysca", override_dir=tmp_path)
    with pytest.raises(Exception, match="unsafe|access"):
        templates.render("evil.j2", {})


def test_unknown_template_is_a_clear_error() -> None:
    with pytest.raises(HvgenError, match="not found"):
        TemplateSet("dysca").render("content/unicorn.j2", {})
