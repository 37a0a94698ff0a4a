"""Publishing only what the run decided: push uploads only regular files inside the export
(never a planted link), and only an export written from the run's current decisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvgen.publish.hub import PushError, push_folder

SECRET = "hf_FAKEtokenDoNotPrint0123456789"


class FakeApi:
    """A stand-in HfApi that records each call (no network)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kw}))
        return f"https://huggingface.co/datasets/{repo_id}"

    def upload_folder(self, **kw):
        self.calls.append(("upload_folder", kw))

    def create_tag(self, repo_id, **kw):
        self.calls.append(("create_tag", {"repo_id": repo_id, **kw}))


class FakeApiWithLarge(FakeApi):
    def upload_large_folder(self, repo_id, folder_path, **kw):
        self.calls.append(("upload_large_folder", {"repo_id": repo_id, "folder_path": folder_path, **kw}))


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    (folder / "data" / "clean").mkdir(parents=True)
    (folder / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n# Fresh split\n")
    (folder / "data" / "clean" / "test-00000-of-00001.parquet").write_bytes(b"x" * 1000)
    (folder / "data" / "clean" / "test-00001-of-00001.parquet").write_bytes(b"y" * 10)
    return folder


@pytest.fixture(autouse=True)
def no_stored_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)


EXPECTED_FILES = [
    ("README.md", 41),
    ("data/clean/test-00000-of-00001.parquet", 1000),
    ("data/clean/test-00001-of-00001.parquet", 10),
]


def test_only_regular_files_inside_the_export_are_uploaded(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Links planted in the export (to a file or a folder outside, or inside), a fifo and the
    export's own stamp are never sent: the upload names exactly the checked regular files."""
    import os

    secret = tmp_path / "secret.txt"
    secret.write_text("not for publishing")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.parquet").write_bytes(b"p" * 7)
    (export / "plots").mkdir()
    (export / "plots" / "leak.txt").symlink_to(secret)  # a link out of the export
    (export / "data" / "clean" / "alias.parquet").symlink_to(export / "README.md")  # a link inside
    (export / "data" / "linked").symlink_to(outside, target_is_directory=True)  # a folder link
    os.mkfifo(export / "data" / "clean" / "pipe")
    (export / ".hvgen-export-stamp.json").write_text("{}")
    for large in (True, False):
        api = FakeApiWithLarge() if large else FakeApi()
        res = push_folder(export, "me/x", api=api, token=SECRET, large=large)
        upload = api.calls[-1][1]
        assert upload["allow_patterns"] == [name for name, _ in EXPECTED_FILES]
        assert res.files == EXPECTED_FILES
        assert res.skipped == [
            ("data/clean/alias.parquet", "a symbolic link"),
            ("data/clean/pipe", "not a regular file"),
            ("data/linked/", "a symbolic link"),
            ("plots/leak.txt", "a symbolic link"),
        ]
    dry = push_folder(export, "me/x", dry_run=True)
    assert dry.files == EXPECTED_FILES
    err = capsys.readouterr().err
    assert "skipped 4 path(s)" in err and "plots/leak.txt (a symbolic link)" in err


def test_what_huggingface_hub_would_send_is_exactly_the_checked_list(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real HfApi's folder listing with our allow list: the planted link is not among the
    files it would add (huggingface_hub itself follows links)."""
    from huggingface_hub import HfApi

    monkeypatch.setattr(HfApi, "_validate_yaml", lambda self, **kw: None)  # a Hub call: offline here

    secret = tmp_path / "secret.txt"
    secret.write_text("not for publishing")
    (export / "plots").mkdir()
    (export / "plots" / "leak.txt").symlink_to(secret)
    (export / "data" / "clean" / "odd [1]*.parquet").write_bytes(b"z")  # glob characters in a name
    captured: dict = {}

    class Capture(FakeApi):
        def upload_folder(self, **kw):
            captured.update(kw)
            return super().upload_folder(**kw)

    push_folder(export, "me/x", api=Capture(), token=SECRET, large=False)
    operations = HfApi()._prepare_upload_folder_additions(
        captured["folder_path"], "", allow_patterns=captured["allow_patterns"], repo_type="dataset"
    )
    assert sorted(op.path_in_repo for op in operations) == sorted(
        [name for name, _ in EXPECTED_FILES] + ["data/clean/odd [1]*.parquet"]
    )


def test_a_linked_export_folder_is_refused(export: Path, tmp_path: Path) -> None:
    link = tmp_path / "linked-export"
    link.symlink_to(export, target_is_directory=True)
    with pytest.raises(PushError, match="is a symbolic link"):
        push_folder(link, "me/x", token=SECRET, api=FakeApi())


# ------------------------------------------------------------------ a stale export is never published


def _push_dry_run(run: Path):
    from reliability_helpers import run_hvgen

    return run_hvgen(["push", str(run), "--repo-id", "me/x", "--dry-run"])


@pytest.mark.heavy
def test_a_build_that_drops_everything_leaves_no_export_to_load_or_push(
    tmp_path: Path, reference_run: Path
) -> None:
    """Two runs with the same seed: the second, built against the first's export, leaks every
    question. The build refuses to export — and the export of its earlier run must not stay
    where `load_dataset` and `hvgen push` would take it for the current split."""
    from datasets import load_dataset
    from reliability_helpers import copy_run, one_error_line, run_hvgen

    first = reference_run
    second = copy_run(reference_run, tmp_path / "b")  # same config, same seed: the same data
    assert (second / "export" / "data").is_dir()
    built = run_hvgen(["build", str(second), "--against", str(first / "export")])
    assert built.returncode == 2
    assert "dropped every question" in one_error_line(built.stderr)
    assert "export.stale" in built.stderr  # said where the stale export went
    assert not (second / "export").exists() and (second / "export.stale" / "data").is_dir()
    with pytest.raises(Exception):  # noqa: B017 - datasets raises its own kinds for a missing folder
        load_dataset(str(second / "export"), "clean", split="test")
    refused = _push_dry_run(second)
    assert refused.returncode == 2 and "run `hvgen export" in one_error_line(refused.stderr)
    # a crash between the build's commit and the move (simulated: put it back): push still refuses
    (second / "export.stale").rename(second / "export")
    refused = _push_dry_run(second)
    assert refused.returncode == 2
    line = one_error_line(refused.stderr)
    assert "does not match the run's current decisions" in line and f"hvgen export {second}" in line
    assert "would upload" not in refused.stdout


@pytest.mark.heavy
def test_an_export_written_before_the_run_changed_is_refused_until_refreshed(
    tmp_path: Path, reference_run: Path
) -> None:
    """Export with --allow-incomplete, then finish the missing work: the export no longer shows
    the run, and push says which command refreshes it; after it, push lists the files."""
    from reliability_helpers import copy_run, one_error_line, run_hvgen

    run = copy_run(reference_run, tmp_path / "run")
    sample = sorted((run / "scenarios" / "print").rglob("*.png"))[0]
    sample.unlink()
    partial = run_hvgen(["export", str(run), "--allow-incomplete"])
    assert partial.returncode == 0, partial.stderr
    assert _push_dry_run(run).returncode == 0  # it matches the run as it is
    assert run_hvgen(["scenario", str(run)]).returncode == 0  # the missing sample is made
    refused = _push_dry_run(run)
    assert refused.returncode == 2
    assert f"hvgen export {run}" in one_error_line(refused.stderr)
    assert run_hvgen(["export", str(run)]).returncode == 0
    pushed = _push_dry_run(run)
    assert pushed.returncode == 0, pushed.stderr
    assert "would upload" in pushed.stderr and ".hvgen-export-stamp" not in pushed.stderr


@pytest.mark.heavy
def test_an_export_without_a_stamp_is_refused(tmp_path: Path, reference_run: Path) -> None:
    """An export written by an older hvgen (no stamp) or with its stamp damaged cannot show it
    matches the run: refused, naming the command that rewrites it."""
    from reliability_helpers import copy_run, one_error_line

    run = copy_run(reference_run, tmp_path / "run")
    stamp = run / "export" / ".hvgen-export-stamp.json"
    for damage in (b"{not json", None):
        if damage is None:
            stamp.unlink()
        else:
            stamp.write_bytes(damage)
        refused = _push_dry_run(run)
        assert refused.returncode == 2
        assert "no stamp" in one_error_line(refused.stderr)


@pytest.mark.heavy
def test_a_rebuilt_catalog_does_not_publish_what_the_build_dropped(
    tmp_path: Path, reference_run: Path
) -> None:
    """A build dropped questions; then the catalog is damaged and rebuilt (its drops are gone):
    export and push refuse, naming the build command, until the build is redone."""
    from reliability_helpers import copy_run, export_rows, one_error_line, run_hvgen

    from hvgen.stages.build.fingerprints import fingerprint_image

    run = copy_run(reference_run, tmp_path / "run")
    image = sorted((run / "images").rglob("*.png"))[0]
    hashes = tmp_path / "leaked.txt"  # an earlier release that holds one of this run's images
    hashes.write_text(fingerprint_image(image).pixel_sha256 + "\n")
    built = run_hvgen(["build", str(run), "--against", str(hashes)])
    assert built.returncode == 0, built.stderr
    kept = export_rows(run)
    (run / "catalog.duckdb").write_bytes(b"\0" * 4096)
    for args in (["export", str(run)], ["push", str(run), "--repo-id", "me/x", "--dry-run"]):
        refused = run_hvgen(args)
        assert refused.returncode == 2, refused.stderr
        assert f"hvgen build {run} --against {hashes}" in one_error_line(refused.stderr)
    rebuilt = run_hvgen(["build", str(run), "--against", str(hashes)])
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert export_rows(run) == kept and _push_dry_run(run).returncode == 0
