"""Publish an export folder (README.md + data/) to the Hugging Face Hub.

`push_folder` = validate → ``create_repo(exist_ok=True)`` → upload → optional ``create_tag``.
Why these choices:

* The upload is resumable: ``HfApi.upload_large_folder`` where the installed huggingface_hub
  has it (0.25 – 1.x: many small commits, progress cached in ``<folder>/.cache/huggingface``);
  huggingface_hub 2.x removed it because ``upload_folder`` itself now streams through hf_xet,
  splits large folders into several commits and resumes when re-run, so we use that there.
* The token comes from the `token` argument, then ``HF_TOKEN``, then the stored login
  (``huggingface_hub.get_token()``). It is never printed, logged or written; error messages
  from the Hub are scrubbed of it before they are re-raised.
* The licence gate: an export holding image bytes of rows marked ``redistributable = false``
  is refused before anything is contacted (dry run included), see `hvgen.publish.licence_gate`.
* Only regular files inside the folder are sent (`_list_files`): a symbolic link, fifo or
  device file planted there is skipped and named, never followed, and the upload is handed the
  exact list (``allow_patterns``), because huggingface_hub would follow links itself.
* ``dry_run`` lists what would be uploaded (the same ignore rules as huggingface_hub) and
  calls nothing: no token needed, no network.
* Whether the folder is still the run's current export is checked before (`hvgen push` calls
  `hvgen.pipeline.check_export_publishable`, see `hvgen.store.decisions`).
* A release version is a git tag on the dataset repo (``create_tag``), so users can pin
  ``load_dataset(repo, revision="v1")``.
"""

from __future__ import annotations

import glob
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hvgen.progress import warn
from hvgen.store.layout import EXPORT_STAMP
from hvgen.summary import human_bytes

__all__ = ["PushError", "PushResult", "push_folder", "resolve_token", "validate_repo_id"]

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_REPO_TYPES = ("dataset", "model", "space")
_LOGIN_HELP = (
    "Log in once with `hf auth login` (older huggingface_hub: `huggingface-cli login`), "
    "or set the HF_TOKEN environment variable to a token with write access "
    "(https://huggingface.co/settings/tokens)."
)


class PushError(ValueError):
    """Anything that stops a push, with what went wrong and how to fix it."""


@dataclass
class PushResult:
    """What was (or, with ``dry_run``, would be) pushed. Never contains the token."""

    repo_id: str
    repo_type: str
    folder: Path
    files: list[tuple[str, int]]  # (path in repo, size in bytes), sorted
    dry_run: bool
    private: bool
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why), never uploaded
    tag: str | None = None
    revision: str | None = None
    url: str | None = None
    commit_url: str | None = None
    method: str | None = None  # "upload_large_folder" | "upload_folder"
    calls: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)

    def table(self):  # -> rich.table.Table
        """Files and sizes for the CLI (dry-run listing and final report)."""
        from rich.table import Table

        verb = "would upload" if self.dry_run else "uploaded"
        t = Table(title=f"{verb} {len(self.files)} files ({human_bytes(self.total_bytes)}) to {self.repo_id}")
        t.add_column("file")
        t.add_column("size", justify="right")
        for name, size in self.files:
            t.add_row(name, human_bytes(size))
        return t


def validate_repo_id(repo_id: str) -> str:
    """OWNER/NAME as the Hub accepts it; raise `PushError` saying what is wrong otherwise."""
    if not isinstance(repo_id, str) or not _REPO_ID.match(repo_id) or len(repo_id.split("/")[1]) > 96:
        hint = ""
        if isinstance(repo_id, str) and repo_id.startswith(("datasets/", "hf://", "https://")):
            hint = " (give the bare id, without 'datasets/', 'hf://' or a URL)"
        raise PushError(
            f"invalid repo id {repo_id!r}{hint}: expected OWNER/NAME, e.g. my-org/dysca-fresh "
            "(letters, digits, '-', '_', '.'; the name at most 96 characters)"
        )
    try:  # the library's own rules too (e.g. no '--' or '..')
        from huggingface_hub.utils import HFValidationError
        from huggingface_hub.utils import validate_repo_id as hf_validate

        hf_validate(repo_id)
    except HFValidationError as exc:
        raise PushError(f"invalid repo id {repo_id!r}: {exc}") from None
    return repo_id


def resolve_token(token: str | None = None) -> str:
    """The token to use: argument, then ``HF_TOKEN``, then the stored login."""
    if token:
        return token
    env = os.environ.get("HF_TOKEN")
    if env:
        return env
    from huggingface_hub import get_token

    stored = get_token()
    if stored:
        return stored
    raise PushError(f"no Hugging Face token found. {_LOGIN_HELP}")


def _list_files(folder: Path) -> tuple[list[tuple[str, int]], list[tuple[str, str]]]:
    """The files the upload sends, and what it leaves out (path, why).

    Only regular files inside the export are sent: a symbolic link (to a file or a folder,
    inside or outside), a fifo or a device file planted in the folder is skipped, never
    followed — the export stage writes none, so such a thing is not part of the release and
    may point at anything on the machine. huggingface_hub's default ignore rules apply too
    (.git/, .cache/huggingface/), and hvgen's own bookkeeping (`EXPORT_STAMP`) stays local."""
    from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects

    regular: list[str] = []
    skipped: list[tuple[str, str]] = []
    for parent, dirs, names in os.walk(folder, followlinks=False):
        base = Path(parent)
        for name in sorted(dirs):
            if (base / name).is_symlink():
                skipped.append(((base / name).relative_to(folder).as_posix() + "/", "a symbolic link"))
        dirs[:] = sorted(d for d in dirs if not (base / d).is_symlink())
        for name in sorted(names):
            path = base / name
            relative = path.relative_to(folder).as_posix()
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                skipped.append((relative, "a symbolic link"))
            elif not stat.S_ISREG(mode):
                skipped.append((relative, "not a regular file"))
            elif relative != EXPORT_STAMP:
                regular.append(relative)
    kept = set(filter_repo_objects(regular, ignore_patterns=DEFAULT_IGNORE_PATTERNS))
    files = [(name, (folder / name).lstat().st_size) for name in sorted(kept)]
    return files, sorted(skipped)


def _validate_folder(folder: Path) -> None:
    if folder.is_symlink():
        raise PushError(
            f"export folder {folder} is a symbolic link: push the folder `hvgen export` wrote, not a link to "
            "another one (run `hvgen export RUN_DIR` to write it)"
        )
    if not folder.is_dir():
        raise PushError(f"export folder {folder} does not exist; run `hvgen export RUN_DIR` first")
    missing = [n for n in ("README.md", "data") if not (folder / n).exists()]
    if missing or not (folder / "data").is_dir() or (folder / "data").is_symlink():
        raise PushError(
            f"{folder} is not an export folder: missing {', '.join(missing) or 'data/ as a folder'}. "
            "Push the `export/` folder of a run (README.md + data/<config>/*.parquet), made by `hvgen export`."
        )
    if not any(p.is_file() for p in (folder / "data").rglob("*")):
        raise PushError(f"{folder / 'data'} holds no files; run `hvgen export RUN_DIR` first")


def _refuse_unredistributable(folder: Path) -> None:
    """The licence gate (`hvgen.publish.licence_gate`): refuse before any call is made."""
    from hvgen.publish.licence_gate import unredistributable_images

    problems = unredistributable_images(folder)
    if problems:
        raise PushError(
            f"{folder} holds images of sources whose licence forbids redistribution ({'; '.join(problems[:5])}"
            f"{' ...' if len(problems) > 5 else ''}; rows with redistributable = false): nothing was uploaded. Re-export "
            "without those images (the benchmark's default, or its --no-images option) and push again."
        )


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    tag: str | None = None,
    revision: str | None = None,
    api: Any | None = None,
    token: str | None = None,
    dry_run: bool = False,
    large: bool = True,
    repo_type: str = "dataset",
    commit_message: str | None = None,
) -> PushResult:
    """Push `folder` to the Hub repo `repo_id` (see the module docstring).

    `api` is an ``huggingface_hub.HfApi`` (default: a new one with the resolved token); tests
    inject a fake. `private` only applies when the repo is created; an existing repo keeps its
    visibility. `revision` is a branch to commit to (created if missing). Raises `PushError`
    for every problem, with the step that failed and how to fix it.
    """
    folder = Path(folder)
    if repo_type not in _REPO_TYPES:
        raise PushError(
            f"unknown repo type {repo_type!r}: use one of {', '.join(_REPO_TYPES)} (hvgen pushes 'dataset')"
        )
    validate_repo_id(repo_id)
    if tag is not None and (not tag.strip() or any(c.isspace() for c in tag)):
        raise PushError(f"invalid tag {tag!r}: a tag is one word such as v1.0")
    _validate_folder(folder)
    _refuse_unredistributable(folder)
    files, skipped = _list_files(folder)
    if not any(name.startswith("data/") for name, _ in files):
        raise PushError(f"{folder / 'data'} holds no regular files; run `hvgen export RUN_DIR` first")
    if skipped:
        shown = ", ".join(f"{name} ({why})" for name, why in skipped[:5])
        warn(
            f"push: skipped {len(skipped)} path(s) in {folder} that are not regular files written by the export: "
            f"{shown}{' ...' if len(skipped) > 5 else ''}; only regular files inside the export are uploaded."
        )
    # huggingface_hub would list the folder again and follow links: name exactly the checked files
    allow = [glob.escape(name) for name, _ in files]
    result = PushResult(
        repo_id=repo_id,
        repo_type=repo_type,
        folder=folder,
        files=files,
        dry_run=dry_run,
        private=private,
        skipped=skipped,
        tag=tag,
        revision=revision,
    )
    if dry_run:
        return result

    tok = resolve_token(token)
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=tok)

    def step(name: str, fn, **kwargs):
        result.calls.append(name)
        try:
            return fn(**kwargs)
        except Exception as exc:
            msg = _scrub(f"{type(exc).__name__}: {exc}", tok)
            status = getattr(getattr(exc, "response", None), "status_code", None)
            advice = {
                401: f"The token was rejected. {_LOGIN_HELP}",
                403: f"The token cannot write to {repo_id}: use a write token of an account or org that owns it.",
                409: "It already exists (a tag cannot be moved): choose a new --tag.",
            }.get(status, "Fix the cause and run the same command again: finished uploads are not repeated.")
            raise PushError(f"push to {repo_id} failed at {name}: {msg}\n{advice}") from None

    url = step(
        "create_repo",
        api.create_repo,
        repo_id=repo_id,
        repo_type=repo_type,
        private=private,
        exist_ok=True,
        token=tok,
    )
    result.url = str(url) if url is not None else None
    if revision and revision != "main":
        step(
            "create_branch",
            api.create_branch,
            repo_id=repo_id,
            branch=revision,
            repo_type=repo_type,
            exist_ok=True,
            token=tok,
        )
    message = commit_message or f"Upload {folder.name} with hvgen"
    if large and hasattr(api, "upload_large_folder"):
        result.method = "upload_large_folder"
        step(
            "upload_large_folder",
            api.upload_large_folder,
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type=repo_type,
            revision=revision,
            private=private,
            allow_patterns=allow,
        )
    else:
        result.method = "upload_folder"
        info = step(
            "upload_folder",
            api.upload_folder,
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type=repo_type,
            revision=revision,
            commit_message=message,
            token=tok,
            allow_patterns=allow,
        )
        result.commit_url = getattr(info, "commit_url", None)
    if tag:
        step(
            "create_tag",
            api.create_tag,
            repo_id=repo_id,
            tag=tag,
            revision=revision,
            repo_type=repo_type,
            token=tok,
        )
    return result
