"""push_folder against a fake HfApi: the calls, dry-run, and the errors (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvgen.publish.hub import PushError, PushResult, push_folder, resolve_token, validate_repo_id

SECRET = "hf_FAKEtokenDoNotPrint0123456789"


class FakeApi:
    """Records every call; `fail` maps a method name to an exception to raise."""

    def __init__(self, fail: dict[str, Exception] | None = None) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.fail = fail or {}

    def _record(self, name: str, **kw):
        self.calls.append((name, kw))
        if name in self.fail:
            raise self.fail[name]

    def create_repo(self, repo_id, **kw):
        self._record("create_repo", repo_id=repo_id, **kw)
        return f"https://huggingface.co/datasets/{repo_id}"

    def create_branch(self, repo_id, **kw):
        self._record("create_branch", repo_id=repo_id, **kw)

    def upload_folder(self, **kw):
        self._record("upload_folder", **kw)

        class Info:
            commit_url = f"https://huggingface.co/datasets/{kw['repo_id']}/commit/abc"

        return Info()

    def create_tag(self, repo_id, **kw):
        self._record("create_tag", repo_id=repo_id, **kw)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


class FakeApiWithLarge(FakeApi):
    """huggingface_hub 0.25 - 1.x also has the resumable upload_large_folder."""

    def upload_large_folder(self, repo_id, folder_path, **kw):
        self._record("upload_large_folder", repo_id=repo_id, folder_path=folder_path, **kw)


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    (folder / "data" / "clean").mkdir(parents=True)
    (folder / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n# Fresh split\n")
    (folder / "data" / "clean" / "test-00000-of-00001.parquet").write_bytes(b"x" * 1000)
    (folder / "data" / "clean" / "test-00001-of-00001.parquet").write_bytes(b"y" * 10)
    (folder / ".cache" / "huggingface").mkdir(parents=True)  # upload_large_folder's resume state
    (folder / ".cache" / "huggingface" / "state.json").write_text("{}")
    return folder


@pytest.fixture(autouse=True)
def no_stored_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Isolate from the machine's login: no HF_TOKEN, an empty HF_HOME."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)


EXPECTED_FILES = [
    ("README.md", 41),
    ("data/clean/test-00000-of-00001.parquet", 1000),
    ("data/clean/test-00001-of-00001.parquet", 10),
]


def test_push_calls_create_repo_upload_and_tag(export: Path, capsys: pytest.CaptureFixture) -> None:
    api = FakeApi()
    res = push_folder(
        export, "my-org/dysca-fresh", private=True, tag="v1.0", api=api, token=SECRET, large=False
    )
    assert api.names() == ["create_repo", "upload_folder", "create_tag"]
    create, upload, tag = (kw for _, kw in api.calls)
    assert create == {
        "repo_id": "my-org/dysca-fresh",
        "repo_type": "dataset",
        "private": True,
        "exist_ok": True,
        "token": SECRET,
    }
    assert upload["repo_id"] == "my-org/dysca-fresh" and upload["repo_type"] == "dataset"
    assert Path(upload["folder_path"]) == export and upload["revision"] is None
    assert tag == {
        "repo_id": "my-org/dysca-fresh",
        "tag": "v1.0",
        "revision": None,
        "repo_type": "dataset",
        "token": SECRET,
    }
    assert isinstance(res, PushResult) and not res.dry_run
    assert res.files == EXPECTED_FILES  # .cache/huggingface is never uploaded
    assert res.total_bytes == 1051 and res.method == "upload_folder"
    assert res.url == "https://huggingface.co/datasets/my-org/dysca-fresh"
    assert res.commit_url.endswith("/commit/abc")
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err + repr(res)


def test_large_upload_is_used_when_available_and_branch_created(export: Path) -> None:
    api = FakeApiWithLarge()
    res = push_folder(export, "me/x", api=api, token=SECRET, revision="fresh-2025")
    assert api.names() == ["create_repo", "create_branch", "upload_large_folder"]
    branch, large = api.calls[1][1], api.calls[2][1]
    assert branch == {
        "repo_id": "me/x",
        "branch": "fresh-2025",
        "repo_type": "dataset",
        "exist_ok": True,
        "token": SECRET,
    }
    assert large == {
        "repo_id": "me/x",
        "folder_path": str(export),
        "repo_type": "dataset",
        "revision": "fresh-2025",
        "private": False,
        "allow_patterns": [name for name, _ in EXPECTED_FILES],  # exactly the checked files
    }
    assert res.method == "upload_large_folder"
    # huggingface_hub 2.x has no upload_large_folder: resumable upload_folder instead
    api2 = FakeApi()
    assert push_folder(export, "me/x", api=api2, token=SECRET).method == "upload_folder"
    assert api2.names() == ["create_repo", "upload_folder"]


def test_dry_run_lists_files_and_calls_nothing(export: Path) -> None:
    api = FakeApi()
    res = push_folder(export, "me/x", api=api, dry_run=True, tag="v2")  # no token needed either
    assert api.calls == []
    assert res.dry_run and res.files == EXPECTED_FILES and res.calls == []
    from rich.console import Console

    console = Console(record=True, width=120)
    console.print(res.table())
    text = console.export_text()
    assert "would upload 3 files" in text and "test-00000-of-00001.parquet" in text


def test_token_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_token("hf_arg") == "hf_arg"
    monkeypatch.setattr("huggingface_hub.get_token", lambda: "hf_stored")
    assert resolve_token() == "hf_stored"
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    assert resolve_token() == "hf_env"


def test_missing_token_is_one_clear_error(export: Path) -> None:
    api = FakeApi()
    with pytest.raises(PushError, match="no Hugging Face token found") as err:
        push_folder(export, "me/x", api=api)
    assert "hf auth login" in str(err.value) and "HF_TOKEN" in str(err.value)
    assert api.calls == []


@pytest.mark.parametrize(
    "repo_id",
    [
        "dysca",
        "a/b/c",
        "",
        "me/",
        "/x",
        "me/bad name",
        "datasets/me/x",
        "https://huggingface.co/datasets/me/x",
        "me/x--y",
    ],
)
def test_bad_repo_id_is_one_clear_error(export: Path, repo_id: str) -> None:
    api = FakeApi()
    with pytest.raises(PushError, match="invalid repo id"):
        push_folder(export, repo_id, api=api, token=SECRET)
    assert api.calls == []


def test_validate_repo_id_accepts_normal_ids() -> None:
    for ok in ("me/x", "my-org/dysca_fresh.v2", "A1/b-2"):
        assert validate_repo_id(ok) == ok


def test_bad_repo_type_and_folder(export: Path, tmp_path: Path) -> None:
    with pytest.raises(PushError, match="unknown repo type 'datasets'"):
        push_folder(export, "me/x", repo_type="datasets", token=SECRET, api=FakeApi())
    with pytest.raises(PushError, match="does not exist"):
        push_folder(tmp_path / "nope", "me/x", token=SECRET, api=FakeApi())
    (export / "README.md").unlink()
    with pytest.raises(PushError, match="missing README.md"):
        push_folder(export, "me/x", token=SECRET, api=FakeApi())
    with pytest.raises(PushError, match="invalid tag"):
        push_folder(export, "me/x", tag="v 1", token=SECRET, api=FakeApi())


def test_hub_errors_are_wrapped_and_token_scrubbed(export: Path, capsys: pytest.CaptureFixture) -> None:
    class Resp:
        status_code = 401

    exc = RuntimeError(f"401 Unauthorized for token {SECRET}")
    exc.response = Resp()
    api = FakeApi(fail={"create_repo": exc})
    with pytest.raises(PushError) as err:
        push_folder(export, "me/x", api=api, token=SECRET)
    text = str(err.value)
    assert "failed at create_repo" in text and "token was rejected" in text and SECRET not in text
    assert (
        err.value.__cause__ is None and err.value.__suppress_context__
    )  # no chained traceback with the token
    assert api.names() == ["create_repo"]  # nothing uploaded after a failed step
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err


def test_calls_bind_to_the_installed_huggingface_hub(export: Path) -> None:
    """The keyword arguments we send are accepted by the real HfApi methods of this version."""
    import inspect

    from huggingface_hub import HfApi

    large, small = FakeApiWithLarge(), FakeApi()
    push_folder(export, "me/x", api=large, token=SECRET, tag="v1", revision="b")
    push_folder(export, "me/x", api=small, token=SECRET, tag="v1", revision="b", large=False)
    for name, kw in large.calls + small.calls:
        real = getattr(HfApi, name, None)
        if real is None:  # upload_large_folder is gone in huggingface_hub 2.x
            assert name == "upload_large_folder"
            continue
        inspect.signature(real).bind(HfApi(), **kw)
