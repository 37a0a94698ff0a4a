"""Plan stage: generator → schema-valid records → catalog (+ ``records.jsonl``).

Deterministic: the same config and seed give byte-identical ``records.jsonl``. The plan report
(counts, answer-position balance) is stored in the catalog and printed by the CLI.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from scipy.stats import chisquare

from hvgen.config import RunConfig
from hvgen.generator import Generator, PlanRequest, get_generator
from hvgen.records import Record, validate_records
from hvgen.store.atomic import write_atomic
from hvgen.store.catalog import open_catalog, set_meta, write_plan
from hvgen.store.layout import RECORDS_FILE, check_key


@dataclass
class PlanSummary:
    records: int
    images: int
    by_question_type: dict[str, int]
    position_balance: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def build_generator(config: RunConfig) -> Generator:
    """Instantiate (and so validate the options of) the run's generator."""
    cls = get_generator(config.benchmark)
    request = PlanRequest(
        run_seed=config.seed,
        num=config.num,
        options=dict(config.options),
        vocab_dir=Path(config.vocab_dir) if config.vocab_dir else None,
        templates_dir=Path(config.templates_dir) if config.templates_dir else None,
    )
    return cls(request)


PLAN_FINGERPRINT_KEY = "plan_fingerprint"
RECORDS_HASH_KEY = "records_sha256"


def plan_records(generator: Generator) -> list[Record]:
    """The generator's records, schema-validated, with file-safe ids, sorted by id."""
    result = generator.plan()
    records = validate_records(result.records, generator.schema)
    for record in records:
        check_key(record["id"], "record id")
        check_key(record["image_id"], "image id")
        for frame in record.get("frames") or []:  # a record's extra images become files too
            check_key(frame["image_id"], "frame image id")
    records.sort(key=lambda record: record["id"])
    generator.last_warnings = result.warnings
    generator.last_notes = result.notes
    return records


def serialise_records(records: list[Record]) -> str:
    """records.jsonl's text: one sorted-key JSON object per line (byte-identical per config)."""
    return "".join(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n" for record in records)


def write_records_jsonl(path: Path, records: list[Record]) -> str:
    """Write records.jsonl (the text of `serialise_records`) line by line, atomically; returns
    its sha256. Streaming keeps a large plan from holding the file's text a few times over."""
    digest = hashlib.sha256()

    def write(handle: Any) -> None:
        for record in records:
            line = (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
            digest.update(line)
            handle.write(line)

    write_atomic(path, write)
    return digest.hexdigest()


def run_plan(run_dir: Path, config: RunConfig, generator: Generator | None = None) -> PlanSummary:
    """Plan, validate and write the records (records.jsonl + catalog), remembering the plan's
    fingerprint and the file's hash so a resumed run can tell the plan is current and intact."""
    generator = generator or build_generator(config)
    records = plan_records(generator)
    summary = summarise_plan(records, generator.last_warnings, generator.last_notes)
    records_hash = write_records_jsonl(run_dir / RECORDS_FILE, records)
    table = pa.Table.from_pylist(records)
    del records  # the Python dicts are the largest copy: free them before DuckDB makes its own
    with open_catalog(run_dir) as con:
        write_plan(con, table)
        set_meta(con, "plan", summary.__dict__)
        set_meta(con, PLAN_FINGERPRINT_KEY, config.plan_fingerprint())
        set_meta(con, RECORDS_HASH_KEY, records_hash)
    return summary


def summarise_plan(records: list[Record], warnings: list[str], notes: list[str] | None = None) -> PlanSummary:
    by_type = Counter(record.get("question_type", "?") for record in records)
    return PlanSummary(
        records=len(records),
        images=len(
            {record["image_id"] for record in records}
            | {frame["image_id"] for record in records for frame in record.get("frames") or []}
        ),
        by_question_type=dict(sorted(by_type.items())),
        position_balance=answer_position_balance(records),
        warnings=warnings,
        notes=list(notes or []),
    )


def answer_position_balance(records: list[Record]) -> list[dict[str, Any]]:
    """Answer-position counts per (question type, number of options), with a chi-square test
    against uniform: a small p-value means some position is favoured (a shortcut for models)."""
    groups: dict[tuple[str, int], Counter] = {}
    for record in records:
        options = record.get("options") or []
        if options and isinstance(record.get("answer_index"), int):
            key = (record.get("question_type", "?"), len(options))
            groups.setdefault(key, Counter())[record["answer_index"]] += 1
    rows = []
    for (question_type, size), counts in sorted(groups.items()):
        observed = [counts.get(i, 0) for i in range(size)]
        p_value = float(chisquare(observed).pvalue) if sum(observed) and size > 1 else 1.0
        rows.append(
            {
                "question_type": question_type,
                "options": size,
                "counts": observed,
                "shares": [round(c / sum(observed), 3) for c in observed],
                "chi2_p": round(p_value, 4),
            }
        )
    return rows
