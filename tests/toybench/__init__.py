"""toybench: the smallest benchmark plug-in, laid out as a third-party package ships one — this
generator, and inside the package templates/toybench/, schemas/toybench.json and
dataset_cards/toybench.md.j2. tests/test_benchmark_plugins.py registers it through the
``hvgen.generators`` entry-point group and runs it through the real CLI; nothing else imports it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from hvgen.generator import Generator, PlanResult
from hvgen.records import Record
from hvgen.store.layout import image_relpath


class ToyBench(Generator):
    """Toy Bench: one yes/no question per synthetic picture of an animal."""

    name = "toybench"
    title = "Toy Bench"
    schema = "toybench"
    template_version = "toybench-1"
    default_num = 2
    data_package = __name__  # templates/, schemas/ and dataset_cards/ sit in this package
    supported_scenarios = ("clean",)
    cli_option_groups = frozenset({"text_to_image"})
    cli_example = "--model tiny --num 2 --out runs/toy"

    @staticmethod
    def cli_options(
        colour: Annotated[str, typer.Option(help="The colour every animal is drawn in.")] = "red",
    ) -> None:
        """Toy Bench's own option (the engine adds the common ones)."""

    def plan(self) -> PlanResult:
        animals = self.vocab.items("animal")
        records: list[Record] = []
        for index in range(self.request.num):
            variables = {
                "animal": animals[index % len(animals)],
                "colour": self.request.options.get("colour", "red"),
            }
            prompt = self.templates.render("toy.j2", variables, block="prompt")
            image_id = self.image_id(prompt, index)
            record_id = self.image_id("question", image_id)
            records.append(
                {
                    "id": record_id,
                    "image_id": image_id,
                    "images": [image_relpath(image_id)],
                    "prompt": prompt,
                    "negative_prompt": "",
                    "animal": variables["animal"],
                    "question": self.templates.render("toy.j2", variables, block="question"),
                    "question_type": "yes/no",
                    "options": ["yes", "no"],
                    "answer": "yes",
                    "answer_index": 0,
                    "seed": self.record_seed(record_id),
                    "image_seed": self.image_seed(image_id),
                    "generator": self.name,
                    "template_version": self.template_version,
                }
            )
        return PlanResult(records=records)
