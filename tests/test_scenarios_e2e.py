"""Issue-level end to end: all four scenarios, build (dedup + leak check), export, push (fake Hub)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset
from PIL import Image

from hvgen.cli import main
from hvgen.publish.hub import push_folder
from hvgen.store.catalog import open_catalog

pytestmark = pytest.mark.heavy


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scen") / "all"
    main(["dysca", "--scenario", "all", "--model", "tiny", "--num", "10", "--steps", "2", "--out", str(out)])
    return out


def test_every_scenario_is_its_own_config(run: Path) -> None:
    planned = {
        json.loads(line)["id"]: json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()
    }
    configs = {
        name: load_dataset(str(run / "export"), name, split="test")
        for name in ("clean", "corruption", "print", "adversarial")
    }
    assert configs["clean"].num_rows == configs["corruption"].num_rows == len(planned)
    for row in configs["corruption"]:
        params = json.loads(row["scenario_params"])
        assert params["corruption"] and "severity" in params
    for row in configs["print"]:
        params = json.loads(row["scenario_params"])
        assert params["text"] != row["answer"] and row["task"] != "OCR"
    ocr = sum(1 for r in planned.values() if r["task"] == "OCR")
    assert configs["print"].num_rows == len(planned) - ocr
    flipped = 0
    for row in configs["adversarial"]:
        params = json.loads(row["scenario_params"])
        image_id = row["image_id"]
        clean = np.asarray(
            Image.open(run / f"images/{image_id[:2]}/{image_id}.png").convert("RGB"), dtype=np.int16
        )
        adv = np.asarray(row["image"].convert("RGB"), dtype=np.int16)
        assert np.abs(adv - clean).max() <= 8  # ε = 8/255 after 8-bit quantisation
        # the record names the adversarial file, whose pixels are the embedded image's
        assert row["images"] == [f"scenarios/adversarial/{row['id'][:2]}/{row['id']}.png"]
        assert np.array_equal(
            np.asarray(Image.open(run / row["images"][0]).convert("RGB"), dtype=np.int16), adv
        )
        flipped += bool(params["success"])
    assert flipped > 0
    card = (run / "export" / "README.md").read_text()
    assert "success rate" in card and "Corruption types drawn" in card


def test_scenarios_are_deterministic_and_resumable(run: Path, tmp_path: Path) -> None:
    before = {p.relative_to(run): p.read_bytes() for p in (run / "scenarios").rglob("*.png")}
    main(["scenario", str(run), "--scenario", "all"])  # resume: nothing to do, nothing rewritten
    assert before == {p.relative_to(run): p.read_bytes() for p in (run / "scenarios").rglob("*.png")}
    again = tmp_path / "again"
    main(
        [
            "dysca",
            "--scenario",
            "corruption,print",
            "--model",
            "tiny",
            "--num",
            "10",
            "--steps",
            "2",
            "--out",
            str(again),
        ]
    )
    for scenario in ("corruption", "print"):
        ours = {p.relative_to(run): p.read_bytes() for p in (run / "scenarios" / scenario).rglob("*.png")}
        theirs = {
            p.relative_to(again): p.read_bytes() for p in (again / "scenarios" / scenario).rglob("*.png")
        }
        assert ours == theirs


def test_corruption_stage_writes_the_pil_path_bytes(run: Path) -> None:
    """The stage moves pixels as arrays (hvgen.store.pixels); its files are byte for byte what
    decoding with Pillow, `apply_corruption` and Pillow's encoder give."""
    from hvgen.config import load_run_config
    from hvgen.scenarios.corruption import apply_corruption
    from hvgen.seeding import derive_seed
    from hvgen.store.atomic import encode_png
    from hvgen.store.manifest import read_manifest_rows

    config = load_run_config(run)
    rows = read_manifest_rows(sorted((run / "manifests").glob("scenario-corruption.*.jsonl")))
    written = [row for row in rows if row["path"]]
    assert written
    for row in written:
        image_id = row["key"]
        with Image.open(run / f"images/{image_id[:2]}/{image_id}.png") as clean:
            params = row["params"]
            seed = derive_seed(config.seed, "scenario", "corruption", row["key"])
            out = apply_corruption(
                clean.convert("RGB"), params["corruption"], params["severity"], seed, preset=params["preset"]
            )
        expected = encode_png(out, config.render.png_compress_level)
        assert (run / row["path"]).read_bytes() == expected, row["key"]


def test_build_drops_leaked_images_and_records_why(run: Path, tmp_path: Path) -> None:
    images = sorted((run / "images").rglob("*.png"))[:3]
    leaked = {p.stem for p in images}
    hashes = tmp_path / "old_release_hashes.txt"
    hashes.write_text("".join(_pixel_sha256(p) + "\n" for p in images))
    main(["build", str(run), "--against", str(hashes)])
    with open_catalog(run, read_only=True) as con:
        dropped = {row[0] for row in con.execute("SELECT id FROM drops WHERE kind = 'image'").fetchall()}
        reasons = {row[0] for row in con.execute("SELECT reason FROM drops").fetchall()}
        kept = con.execute("SELECT count(*) FROM kept_records").fetchone()[0]
    assert dropped == leaked and {"leak_exact", "dropped_image"} <= reasons
    # force_redownload: offline, `datasets` would serve its cached copy of the earlier export
    ds = load_dataset(
        str(run / "export"),
        "clean",
        split="test",
        download_mode="force_redownload",
        verification_mode="no_checks",
    )
    assert ds.num_rows == kept and not leaked & set(ds["image_id"])
    card = (run / "export" / "README.md").read_text()
    assert "leak_exact" in card
    # a rebuild without the old release keeps everything again: nothing was deleted
    main(["build", str(run), "--no-export"])
    with open_catalog(run, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM drops").fetchone()[0] == 0


def test_push_sends_the_export_folder(run: Path) -> None:
    class FakeApi:
        def __init__(self) -> None:
            self.calls: list[tuple[str, dict]] = []

        def __getattr__(self, name: str):
            def record(*args, **kwargs):
                self.calls.append((name, {**kwargs, "args": args}))
                return f"https://huggingface.co/datasets/{kwargs.get('repo_id', 'x')}"

            return record

    main(["export", str(run)])  # an earlier test rebuilt the run: its export was set aside as stale
    api = FakeApi()
    push_folder(run / "export", "someone/dysca-fresh", tag="v1", api=api, token="hf_secret_token")
    names = [name for name, _ in api.calls]
    assert "create_repo" in names and "create_tag" in names
    upload = next(kwargs for name, kwargs in api.calls if name.startswith("upload"))
    assert Path(upload["folder_path"]) == run / "export" and upload["repo_id"] == "someone/dysca-fresh"


def _pixel_sha256(path: Path) -> str:
    from hvgen.stages.build.fingerprints import fingerprint_image

    return fingerprint_image(path).pixel_sha256


def test_hash_helper_matches_decoded_pixels(run: Path) -> None:
    path = next((run / "images").rglob("*.png"))
    assert (
        len(_pixel_sha256(path)) == 64
        and _pixel_sha256(path) != hashlib.sha256(path.read_bytes()).hexdigest()
    )


def test_clip_filter_drops_low_scoring_images_and_caches_scores(run: Path) -> None:
    main(["build", str(run), "--clip-filter", "tiny", "--clip-threshold", "-100", "--no-export"])
    with open_catalog(run, read_only=True) as con:
        scores = sorted(
            row[0] for row in con.execute("SELECT score FROM clip_scores WHERE model = 'tiny'").fetchall()
        )
        assert len(scores) == 10 and con.execute("SELECT count(*) FROM drops").fetchone()[0] == 0
    median = scores[len(scores) // 2]
    main(["build", str(run), "--clip-filter", "tiny", "--clip-threshold", str(median), "--no-export"])
    with open_catalog(run, read_only=True) as con:
        low = {
            row[0]
            for row in con.execute("SELECT image_id FROM clip_scores WHERE score <= ?", [median]).fetchall()
        }
        dropped = {
            row[0] for row in con.execute("SELECT id FROM drops WHERE reason = 'low_clip_score'").fetchall()
        }
        assert dropped == low and 0 < len(low) < 10
        assert con.execute("SELECT count(*) FROM clip_scores").fetchone()[0] == 10  # cached, not recomputed
        orphans = con.execute(
            "SELECT count(*) FROM kept_records WHERE image_id IN (SELECT id FROM drops WHERE kind = 'image')"
        ).fetchone()[0]
        assert orphans == 0
    main(["build", str(run), "--no-export"])  # without the filter everything is kept again
    with open_catalog(run, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM drops").fetchone()[0] == 0


def test_preview_links_existing_images(run: Path) -> None:
    import re

    main(["preview", str(run), "--scenario", "print", "--num", "5"])
    page = (run / "preview-print.html").read_text()
    sources = re.findall(r"<img src='([^']+)'", page)
    assert len(sources) == 5 and all((run / src).is_file() for src in sources)
    assert page.count("class='card'") == 5
