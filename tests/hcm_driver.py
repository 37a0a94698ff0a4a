"""Run an export in HERM's format through Human-Centric-MLLM's own code (not a re-statement).

Usage: ``python tests/hcm_driver.py EXPORT_DIR [--hcm CHECKOUT]``. Prints one JSON object:

* ``static`` — always: `hcm_contract.check_export`, the re-statement of what HERM's classes read.
* ``real`` — with ``--hcm`` (or ``HCM_DIR``) naming a Human-Centric-MLLM checkout: HERM's real
  dataset classes and processors, built from its own dataset yaml merged with its train configs,
  iterate every record of every file for every class × task (both branches of ``bbox_ref_prob``),
  and ``eval_inference.py``'s prediction loops and scorers run on each eval file for a perfect model
  and for a wrong one.

The checkout is never imported whole: ``minigpt4/__init__.py`` imports every model (LLaMA, EVA …)
and ``minigpt4/common/utils.py`` download helpers. The packages the classes live in are
registered as bare namespace modules over the real folders, ``minigpt4.common.utils`` holds only
that file's string constants, and the functions of ``eval_inference.py`` (a script that loads a
model at import) are compiled from its source one by one. Needs torch, torchvision, transformers,
omegaconf, opencv and scikit-image (HERM's requirements for these modules).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import random
import re
import sys
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hcm_contract as C  # noqa: E402 - the contract lives beside this script

TRAIN_CONFIGS = (  # the configs whose `datasets:` entries HERM trains with (task, overrides)
    "train_configs/hcm_multitask/minigptv2_hcm_multitask.yaml",
    "train_configs/hcm_multitask/minigptv2_hcm_instruct_tuning.yaml",
)
EVAL_CONFIGS = (  # configs that build validation sets (their `text_processor.eval` overrides)
    "train_configs/hcm_multitask/minigptv2_hcm_groundeval.yaml",
    "train_configs/hcm_multitask/minigptv2_hcm_capeval.yaml",
)
INFERENCE_CONFIG = "eval_configs/minigptv2_free_evaluation.yaml"
EVAL_FUNCTIONS = ("transfer", "compute_IoU", "eval_bbox", "eval_multi_bbox", "pred_minigptv2_default",
                  "pred_minigptv2_multibbox", "pred_minigptv2_multichoice_default")  # fmt: skip
DEFAULT_TEMPLATES = {  # written when an export ships no template (HERM's repository ships none)
    "dense_caption_template.json": ["describe the image in detail"],
    "part_rec_template.json": ["where is the <class> of <person>?"],
}
_PACKAGES = ("minigpt4", "minigpt4.common", "minigpt4.datasets", "minigpt4.datasets.datasets",
             "minigpt4.processors", "minigpt4.conversation")  # fmt: skip


# ------------------------------------------------------------------ importing the real code
def install_namespace(checkout: Path) -> dict[str, Any]:
    """Import HERM's registry, processors, dataset classes and conversation template."""
    import importlib

    for name in _PACKAGES:
        module = types.ModuleType(name)
        module.__path__ = [str(checkout / name.replace(".", "/"))]
        sys.modules[name] = module
    utils = types.ModuleType("minigpt4.common.utils")
    source = (checkout / "minigpt4/common/utils.py").read_text(encoding="utf-8")
    for node in ast.parse(source).body:  # the string constants only (no iopath / download imports)
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    setattr(utils, target.id, node.value.value)
    sys.modules[utils.__name__] = utils
    # registry.register_processor checks its classes against `minigpt4.processors.BaseProcessor`
    sys.modules["minigpt4.processors"].BaseProcessor = importlib.import_module(
        "minigpt4.processors.base_processor"
    ).BaseProcessor
    modules = {}
    for name in ("minigpt4.common.registry", "minigpt4.processors.blip_processors",
                 "minigpt4.processors.blip_inst_text_processors",
                 "minigpt4.processors.blip_multitask_qa_image_processors",
                 "minigpt4.conversation.conversation", "minigpt4.datasets.datasets.multitask_qa_datasets"):  # fmt: skip
        modules[name.rsplit(".", 1)[1]] = importlib.import_module(name)
    return modules


def _functions(path: Path, names: tuple[str, ...], namespace: dict[str, Any]) -> dict[str, Any]:
    """The named top-level functions of a script, compiled from its own source into `namespace`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    picked = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in names]
    missing = set(names) - {node.name for node in picked}
    if missing:
        raise RuntimeError(f"{path}: no function {sorted(missing)}: is this Human-Centric-MLLM @ 98d6961?")
    exec(compile(ast.Module(body=picked, type_ignores=[]), str(path), "exec"), namespace)  # noqa: S102
    return namespace


def _yaml(path: Path) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.load(str(path))


# ------------------------------------------------------------------ training classes
def dataset_configs(checkout: Path, reader: C.Reader) -> Iterator[tuple[str, str, Any]]:
    """(config, processors, merged dataset config) as minigpt4's Config + builder would build them:
    the dataset yaml under each train config naming the key (``train`` processors), then under each
    eval config naming it — or alone, when its yaml defines eval processors — (``eval`` processors,
    the validation set's)."""
    from omegaconf import OmegaConf

    base = _yaml(checkout / reader.config).datasets[reader.key]
    merged = None
    for name in TRAIN_CONFIGS:
        entry = _yaml(checkout / name).datasets.get(reader.key)
        if entry is not None:
            merged = OmegaConf.merge(base, entry)
            yield name, "train", merged
    if merged is None:
        raise RuntimeError(f"{reader.key}: in none of {TRAIN_CONFIGS}")
    if reader.cls == "ParsingRECDataset":  # its builder validates with ParsingQADataset, another file format
        return
    evals = [(n, OmegaConf.merge(base, _yaml(checkout / n).datasets[reader.key]))
             for n in EVAL_CONFIGS if reader.key in _yaml(checkout / n).datasets]  # fmt: skip
    has_eval = all(base.get(kind) is not None and base[kind].get("eval") is not None
                   for kind in ("vis_processor", "text_processor"))  # fmt: skip
    if not evals and has_eval:
        evals = [(reader.config, OmegaConf.merge(base, {"task": merged.task}))]
    for name, config in evals:
        yield name, "eval", config


def _processor(registry: Any, config: Any, split: str, common: Any = None) -> Any:
    """base_dataset_builder.build_processors: `common` merged under the split's config."""
    from omegaconf import OmegaConf

    if config is None or config.get(split) is None:
        return None
    cfg = config[split] if common is None else OmegaConf.merge(common, config[split])
    return registry.get_processor_class(cfg.name).from_config(cfg)


def templates_dir(root: Path, scratch: Path) -> tuple[Path, list[str]]:
    """The export's templates folder, with a template of HERM's shape written for each it lacks."""
    folder = scratch / "templates"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for reader in C.READERS:
        if reader.template is None:
            continue
        shipped = root / C.TEMPLATES / reader.template
        target = folder / reader.template
        if shipped.is_file():
            target.write_bytes(shipped.read_bytes())
        else:
            questions = DEFAULT_TEMPLATES.get(reader.template, [f"describe the {reader.task} of <person>"])
            target.write_text(json.dumps({"question": questions, "answer": []}), encoding="utf-8")
            written.append(reader.template)
    return folder, written


def readme_datasets(root: Path) -> Any | None:
    """The ``datasets:`` block the export's README tells users to add to their train config."""
    import yaml
    from omegaconf import OmegaConf

    readme = root / "README.md"
    match = (
        re.search(r"```yaml\n(datasets:.*?)```", readme.read_text(encoding="utf-8"), re.S)
        if readme.is_file()
        else None
    )
    return OmegaConf.create(yaml.safe_load(match.group(1)))["datasets"] if match else None


def run_readers(root: Path, checkout: Path, modules: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """Every reader × split × task × bbox_ref_prob branch over every record of its file. Where the
    export's README gives a key's ``build_info``, it is merged into HERM's config the way a train
    config entry is, and the paths HERM resolves from it (``${oc.env:HERM_EXPORT}``) are used."""
    from omegaconf import OmegaConf

    registry = modules["registry"].registry
    classes = modules["multitask_qa_datasets"]
    folder, written = templates_dir(root, scratch)
    block = readme_datasets(root)
    results: dict[str, Any] = {"templates_written_by_driver": written, "runs": []}
    for reader in C.READERS:
        path = root / reader.file
        if not path.is_file():
            continue
        lines = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        for source, split, config in dataset_configs(checkout, reader):
            vis_root, ann_path = str(root / C.IMAGES), str(path)
            template = None if reader.template is None else str(folder / reader.template)
            paths_from = "layout"
            if block is not None and reader.key in block:
                config = OmegaConf.merge(config, block[reader.key])
                info = config.build_info
                vis_root, ann_path, paths_from = info.image_path, info.ann_path.train, "README.md"
                if info.get("template_path") and Path(info.template_path).is_file():
                    template = info.template_path
            tasks = [config.task] + (list(C.INSTANCE_TEXTS) if config.task == "inst_rec" else [])
            text_config = config.get("text_processor")
            probs = [None]
            if (
                text_config is not None
                and text_config.get(split) is not None
                and "bbox_ref_prob" in text_config[split]
            ):
                probs = [0.0, 1.0]  # both ways of naming the person: a referring expression, a box
            for task in tasks:
                for prob in probs:
                    vis = _processor(
                        registry, config.vis_processor, split, config.vis_processor.get("common")
                    )
                    text_cfg = text_config if prob is None else OmegaConf.merge(
                        text_config, {split: {"bbox_ref_prob": prob}})  # fmt: skip
                    text = _processor(registry, text_cfg, split)
                    dataset = getattr(classes, reader.cls)(vis_processor=vis, text_processor=text,
                                                           vis_root=vis_root, ann_paths=ann_path,
                                                           template_path=template, task=task)  # fmt: skip
                    run = _iterate(reader, source, split, task, prob, dataset, lines)
                    run["paths_from"] = paths_from
                    results["runs"].append(run)
    return results


def _iterate(
    reader: C.Reader, source: str, split: str, task: str, prob: float | None, dataset: Any, lines: int
) -> dict[str, Any]:
    run = {"key": reader.key, "config": source, "class": reader.cls, "processors": split, "task": task,
           "bbox_ref_prob": prob,
           "lines": lines, "items": len(dataset), "iterated": 0, "errors": [], "example": None}  # fmt: skip
    random.seed(0)
    for index in range(len(dataset)):
        try:
            item = dataset[index]
        except Exception as error:  # noqa: BLE001 - the report names what HERM's code raised
            run["errors"].append(f"item {index}: {type(error).__name__}: {error}")
            continue
        question, answer = item.get("instruction_input"), item.get("answer")
        if not isinstance(question, str) or not isinstance(answer, str) or not answer.strip():
            run["errors"].append(f"item {index}: no question / answer text ({question!r}, {answer!r})")
            continue
        run["iterated"] += 1
        if run["example"] is None:
            run["example"] = {"instruction_input": question, "answer": answer}
    return run


# ------------------------------------------------------------------ eval_inference.py
class PerfectModel:
    """Answers every question of an eval file right, in the loader's order (shuffle=False)."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = iter(answers)

    def generate(
        self, images: Any, texts: list[str], max_new_tokens: int = 0, do_sample: bool = False
    ) -> list[str]:
        assert len(images) == len(texts)
        return [next(self.answers) for _ in texts]


def gold_outputs(kind: str, rows: list[dict[str, Any]], wrong: bool = False) -> list[str]:
    """What a perfect HERM model says (the box text its processors trained it on, the letter and
    text of the right choice); `wrong`: a corner box / always (A)."""
    if kind == "multichoice":
        letters = ["A" if wrong else row["answer"] for row in rows]
        return [f"({letter}) {row['choices'][letter]}" for letter, row in zip(letters, rows)]
    if wrong:
        return ["{<0><0><1><1>}" for _ in rows]
    return [C.herm_box_text(row["answer"] if kind == "bbox" else row["answer"][0]) for row in rows]


def choice_accuracy(predictions: list[dict[str, Any]]) -> float:
    """eval_inference.py writes multiple-choice outputs and `gt` ("(A)text") but scores none:
    the letter of the output against the letter of `gt`."""
    letter = re.compile(r"^\s*\(?([A-D])\)?")
    right = 0
    for item in predictions:
        said, gold = letter.match(item["output"]), letter.match(item["gt"])
        right += bool(said and gold and said.group(1) == gold.group(1))
    return right / len(predictions) if predictions else 0.0


def run_eval(root: Path, checkout: Path, modules: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    registry = modules["registry"].registry
    classes = modules["multitask_qa_datasets"]
    config = _yaml(checkout / INFERENCE_CONFIG)
    first = next(iter(config.datasets.values()))  # common/eval_utils.py init_model: the first dataset's
    vis = registry.get_processor_class(first.vis_processor.train.name).from_config(first.vis_processor.train)
    batch = int(config.evaluation_datasets.hcm_qa.batch_size)
    conv = modules["conversation"].CONV_VISION_minigptv2.copy()
    conv.system = ""
    dataset_classes = {"bbox": classes.BBoxEvalDataset, "multi_bbox": classes.MultiBBoxEvalDataset,
                       "multichoice": classes.MultiChoiceEvalDataset}  # fmt: skip
    predict = {"bbox": "pred_minigptv2_default", "multi_bbox": "pred_minigptv2_multibbox",
               "multichoice": "pred_minigptv2_multichoice_default"}  # fmt: skip
    results = []
    for name, kind in C.EVAL_TYPES.items():
        path = root / name
        if not path.is_file():
            continue
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for model_name, wrong in (("perfect", False), ("wrong", True)):
            namespace: dict[str, Any] = {"re": re, "np": np, "torch": torch, "tqdm": tqdm, "conv_temp": conv,
                                         "max_new_tokens": 20, "model": PerfectModel(gold_outputs(kind, rows, wrong))}  # fmt: skip
            _functions(checkout / "minigpt4/common/eval_utils.py", ("prepare_texts",), namespace)
            _functions(checkout / "eval_inference.py", EVAL_FUNCTIONS, namespace)
            result = {"file": name, "dataset_type": kind, "model": model_name, "rows": len(rows)}
            try:
                loader = DataLoader(dataset_classes[kind](rows, vis), batch_size=batch, shuffle=False)
                predictions: list[dict[str, Any]] = []
                with contextlib.redirect_stdout(sys.stderr), _cwd(root):  # `image` is relative to the export
                    namespace[predict[kind]](loader, predictions)
                    if kind == "bbox":
                        result["accuracy"] = namespace["eval_bbox"](predictions)
                    elif kind == "multi_bbox":
                        result["accuracy"] = namespace["eval_multi_bbox"](predictions)
                    else:
                        result["accuracy"] = choice_accuracy(predictions)
                result["predictions"] = len(predictions)
            except Exception as error:  # noqa: BLE001 - e.g. the collate crash on mixed option counts
                result["error"] = f"{type(error).__name__}: {error}"
            results.append(result)
    return {"batch_size": batch, "files": results}


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def run_real(root: Path, checkout: Path) -> dict[str, Any]:
    os.environ["HERM_EXPORT"] = str(root)  # what the export's README tells users to set
    modules = install_namespace(checkout)
    parts = list(_yaml(checkout / C.READERS[-1].config).datasets.cihp_parsing_rec.vis_processor.train.data_cfg
                 .all_parts_list)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="hcm-driver-") as scratch:
        readers = run_readers(root, checkout, modules, Path(scratch))
    return {
        "cihp_parts_match": parts == list(C.CIHP_PARTS),
        "readers": readers,
        "eval": run_eval(root, checkout, modules),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path)
    parser.add_argument("--hcm", type=Path, default=os.environ.get("HCM_DIR") or None)
    args = parser.parse_args()
    root = args.export.resolve()
    report: dict[str, Any] = {"static": C.check_export(root).to_json()}
    if args.hcm is not None:
        report["real"] = run_real(root, args.hcm.resolve())
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
