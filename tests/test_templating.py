from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from herm_coco import write_coco
from jinja2.sandbox import SandboxedEnvironment

from hvgen.errors import HvgenError
from hvgen.generator import PlanRequest, get_generator
from hvgen.stages.plan import plan_records, serialise_records
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


def test_user_templates_are_sandboxed_and_shipped_ones_are_not(tmp_path: Path) -> None:
    """Shipped templates are as trusted as hvgen's code (plain Jinja, faster); a --templates
    folder makes the whole set sandboxed, shipped files included, since a user file may be one
    they include; template strings from vocabulary files are always sandboxed."""
    (tmp_path / "evil.j2").write_text("{{ cycler.__init__.__globals__.os.getcwd() }}")
    (tmp_path / "includes_evil.j2").write_text("{% include 'evil.j2' %}")
    shipped = TemplateSet("dysca").env
    assert isinstance(shipped, jinja2.Environment) and not isinstance(shipped, SandboxedEnvironment)
    user = TemplateSet("dysca", override_dir=tmp_path)
    assert isinstance(user.env, SandboxedEnvironment)
    for name in ("evil.j2", "includes_evil.j2"):
        with pytest.raises(HvgenError, match="sandbox forbids"):
            user.render(name, {})
    with pytest.raises(HvgenError, match="sandbox forbids"):
        TemplateSet("dysca").render_string(
            "{{ ''.__class__.__mro__[1].__subclasses__() }}", {}, origin="x.txt"
        )


def shipped_plans(benchmark: str, request: PlanRequest) -> tuple[list, list]:
    """`benchmark`'s plan with its shipped templates in the plain environment and in the sandbox."""
    plans = []
    for sandboxed in (False, True):
        generator = get_generator(benchmark)(request)
        generator.templates = TemplateSet(benchmark, sandboxed=sandboxed)
        assert isinstance(generator.templates.env, SandboxedEnvironment) == sandboxed
        plans.append(serialise_records(plan_records(generator)))
    return plans[0], plans[1]


def test_shipped_templates_render_the_same_bytes_without_the_sandbox(tmp_path: Path) -> None:
    plain, sandboxed = shipped_plans("dysca", PlanRequest(run_seed=3, num=150, options={"scenario": "all"}))
    assert plain == sandboxed and len(plain.splitlines()) > 500
    coco = write_coco(tmp_path, copies=2)
    options = {"coco_keypoints": str(coco["keypoints"]), "coco_instances": str(coco["instances"]),
               "coco_captions": str(coco["captions"]), "images": str(coco["images"])}  # fmt: skip
    plain, sandboxed = shipped_plans("herm", PlanRequest(run_seed=3, num=100, options=options))
    assert plain == sandboxed and len(plain.splitlines()) > 50


def test_unknown_template_is_a_clear_error() -> None:
    with pytest.raises(HvgenError, match="not found"):
        TemplateSet("dysca").render("content/unicorn.j2", {})


def test_a_block_renders_afresh_each_time_after_errors_and_across_threads(tmp_path: Path) -> None:
    """A block's context is reused between renders (`_Block`): nothing one render sets, nor a
    render that fails half-way, shows in the next, and threads rendering at once each get theirs."""
    import sys
    import threading

    (tmp_path / "t.j2").write_text(
        '{% block b %}{% set x = x_in | default("none") %}{{ x }}-{{ y }}{% for i in range(n) %}.{% endfor %}'
        "{% endblock %}"
    )
    templates = TemplateSet("dysca", override_dir=tmp_path)
    assert templates.render("t.j2", {"x_in": 1, "y": 2, "n": 1}, block="b") == "1-2."
    assert templates.render("t.j2", {"y": 3, "n": 0}, block="b") == "none-3"
    with pytest.raises(HvgenError, match="'y' is undefined"):
        templates.render("t.j2", {"x_in": 5, "n": 0}, block="b")
    assert templates.render("t.j2", {"y": 4, "n": 2}, block="b") == "none-4.."
    wrong: list[str] = []
    start = threading.Barrier(6)

    def render_many(worker: int) -> None:
        start.wait()
        for n in range(2000):
            try:
                text = templates.render("t.j2", {"x_in": worker, "y": n, "n": n % 3}, block="b")
            except HvgenError as error:
                text = str(error)
            if text != f"{worker}-{n}{'.' * (n % 3)}":
                wrong.append(text)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns mid-render
    try:
        threads = [threading.Thread(target=render_many, args=(worker,)) for worker in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not wrong


def test_a_whole_template_renders_as_jinja_renders_it(tmp_path: Path) -> None:
    """`_Whole` skips `Template.render`'s flattening of the globals, nothing else: inheritance,
    assignments, includes, globals and filters come out the same, each render afresh."""
    (tmp_path / "base.j2").write_text("{% block a %}base {{ x }}{% endblock %}|{% block b %}{% endblock %}")
    (tmp_path / "part.j2").write_text("{{ x | indefinite }}")
    (tmp_path / "child.j2").write_text(
        '{% extends "base.j2" %}{% set y = x ~ "!" %}{% block b %}{{ y }} {% include "part.j2" %} '
        "{{ range(2) | list }} {{ super() }}{% endblock %}"
    )
    templates = TemplateSet("dysca", override_dir=tmp_path)
    for x in ("owl", "cat", "owl"):
        expected = templates.env.get_template("child.j2").render(x=x)
        assert templates.render("child.j2", {"x": x}, one_line=False) == expected.strip()
    assert templates.render("child.j2", {"x": "owl"}) == "base owl|owl! an owl [0, 1]"
    with pytest.raises(HvgenError, match=r"'child.j2' line 1: 'x' is undefined"):
        templates.render("child.j2", {})


@pytest.mark.parametrize("sandboxed", [False, True])
def test_a_dicts_keys_and_attributes_read_as_jinja_reads_them(tmp_path: Path, sandboxed: bool) -> None:
    """`d.key` of a plain dict is looked up as a key at once (`_DictKeys`): the same text as
    Jinja's own `getattr` for keys, dict attributes (a method wins over a key of its name),
    missing keys (an error naming them), dict subclasses and other objects."""
    source = "{{ d.size }} {{ d.items is callable }} {{ o.size }} {{ n.real }} {{ d.get('size') }}"
    variables = {
        "d": {"size": "big", "items": 3},
        "o": type("O", (dict,), {"size": "attr"})(size="key"),
        "n": 5,
    }
    templates = TemplateSet("dysca", sandboxed=sandboxed)
    plain = jinja2.Environment(undefined=jinja2.StrictUndefined)
    expected = plain.from_string(source).render(variables)
    assert templates.env.from_string(source).render(variables) == expected == "big True attr 5 big"
    assert templates.render_string(source, variables, "test") == expected
    with pytest.raises(HvgenError, match="has no attribute 'colour'"):
        templates.render_string("{{ d.colour }}", variables, "test")
    (tmp_path / "t.j2").write_text("{{ d.__class__.__mro__ }}")
    with pytest.raises(HvgenError, match="sandbox forbids"):
        TemplateSet("dysca", override_dir=tmp_path).render("t.j2", variables)
