"""Run hvgen's VLMEvalKit export through VLMEvalKit's own code (not a re-statement).

Usage: ``python tests/vlmevalkit_driver.py FORMAT_DIR WORK_DIR`` from a VLMEvalKit checkout
(its ``run.py`` importable, ``vlmeval`` and its requirements installed). Every TSV is copied
into ``$LMUData``, built the way ``run.py --data-config`` builds it, every prompt is built (which
decodes and dumps the images), and MCQ / YN files are scored with exact matching for a model that
answers right and one that always answers "(A)" / "Yes". Prints one JSON object per file.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys
import warnings


def main(format_dir: str, work: str) -> None:
    warnings.filterwarnings("ignore")
    data_root = os.path.join(work, "LMUData")
    os.environ["LMUData"] = data_root  # noqa: SIM112 - VLMEvalKit's own spelling of the variable
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(data_root)
    for tsv in glob.glob(os.path.join(format_dir, "*.tsv")):
        shutil.copy(tsv, data_root)
    sys.argv = ["run.py"]
    import run  # VLMEvalKit's own entry point: its data-config parsing and dataset building

    with open(os.path.join(format_dir, "data_config.json")) as handle:
        config = run.load_data_config(handle.read())
    for name in sorted(config):
        dataset = run.build_dataset_from_cli(name, config, {})
        data = dataset.data
        images: list[list[str]] = []
        for i in range(len(data)):
            message = dataset.build_prompt(data.iloc[i])
            images.append([part["value"] for part in message if part["type"] == "image"])
        kind = name.rsplit("_", 1)[1]
        result = {
            "file": name,
            "class": type(dataset).__name__,
            "rows": len(data),
            "images": images,
            "scores": {},
        }
        if kind != "VQA":
            for model in ("perfect", "always_first"):
                prediction = data.drop(columns=["image"]).copy()
                if model == "perfect":
                    prediction["prediction"] = [f"({a})" if kind == "MCQ" else a for a in data["answer"]]
                else:
                    prediction["prediction"] = "(A)" if kind == "MCQ" else "Yes"
                folder = os.path.join(work, model)
                os.makedirs(folder, exist_ok=True)
                path = os.path.join(folder, f"{model}_{name}.xlsx")
                prediction.to_excel(path, index=False)
                report = dataset.evaluate(path, model="exact_matching", nproc=1)
                overall = (
                    float(report["Overall"].iloc[0])
                    if hasattr(report, "columns")
                    else float(report["Overall"])
                )
                result["scores"][model] = overall / 100 if kind == "YN" else overall  # YN reports percent
        print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
