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
