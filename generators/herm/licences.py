"""The licences of HERM's COCO images: which restrict reuse, and what `hvgen push` warns about."""

from __future__ import annotations

from pathlib import Path

from hvgen.store.catalog import open_catalog


def licence_warnings(run_dir: Path) -> list[str]:
    """A warning when the export embeds images whose licence forbids commercial use or
    derivatives (COCO's Flickr NonCommercial / NoDerivs licences)."""
    with open_catalog(run_dir, read_only=True) as con:
        rows = con.execute(
            "SELECT coalesce(license, 'unknown'), count(DISTINCT image_id) FROM kept_records GROUP BY 1 ORDER BY 1"
        ).fetchall()
    total = sum(n for _, n in rows)
    restricted = {name: n for name, n in rows if restricted_licence(name)}
    if not restricted:
        return []
    listed = ", ".join(f"{n} {name}" for name, n in restricted.items())
    return [
        f"{sum(restricted.values())} of {total} images to upload carry a licence that restricts reuse ({listed}); "
        "check that you may redistribute them, or rebuild with --no-images to publish annotations only."
    ]


def restricted_licence(licence: str) -> bool:
    """A licence that forbids commercial use or derivatives, or that the annotations do not name."""
    name = licence.lower().replace("-", " ")
    return "noncommercial" in name.replace(" ", "") or "noderiv" in name.replace(" ", "") or name == "unknown"
