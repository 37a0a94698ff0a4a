"""Machine paths never go into anything published (cards, exported rows, reports).

A local model folder, vocabulary folder or earlier release on this machine is shown by its
name only: ``/home/alice/models/my-sdxl`` → ``<local: my-sdxl>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def looks_like_local_path(value: str) -> bool:
    """A value naming a file or folder of this machine (absolute, home- or dot-relative, or existing)."""
    if value.startswith(("/", "~", "./", "../")) or (len(value) > 2 and value[1:3] in (":\\", ":/")):
        return True
    return "/" in value and Path(value).exists()


def public_value(value: Any) -> Any:
    """`value` with every local path replaced by ``<local: name>`` (recursing into dicts, lists)."""
    if isinstance(value, str) and looks_like_local_path(value):
        return f"<local: {Path(value).name}>"
    if isinstance(value, str) and value.startswith("ctrlora:"):  # --controlnet ctrlora:BASE
        return "ctrlora:" + public_value(value[len("ctrlora:") :])
    if isinstance(value, str) and "=" in value:  # NAME=DIR[,KEY=VALUE] (faceqa --source)
        name, _, rest = value.partition("=")
        folder, comma, options = rest.partition(",")
        if name and looks_like_local_path(folder):
            return f"{name}=<local: {Path(folder).name}>{comma}{options}"
    if isinstance(value, dict):
        return {key: public_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [public_value(item) for item in value]
    return value
