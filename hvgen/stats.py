"""Statistics of a run, computed in DuckDB over the kept records (they feed the CLI and the card)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import duckdb
from scipy.stats import chisquare

from hvgen.store.catalog import table_exists


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> set[str]:
    return {row[0] for row in con.execute(f"DESCRIBE {relation}").fetchall()}


def compute_stats(con: duckdb.DuckDBPyConnection, group_columns: Sequence[str]) -> dict[str, Any]:
    """Counts per column, answer distribution, option-position balance (chi-square), prompt lengths,
    samples per scenario and dedup drops."""
    columns = _columns(con, "kept_records")
    stats: dict[str, Any] = {
        "records": con.execute("SELECT count(*) FROM kept_records").fetchone()[0],
        "images": con.execute("SELECT count(DISTINCT image_id) FROM kept_records").fetchone()[0],
        "counts": {},
    }
    for column in group_columns:
        if column in columns:
            rows = con.execute(
                f'SELECT "{column}", count(*) AS n FROM kept_records GROUP BY 1 ORDER BY n DESC, 1'
            ).fetchall()
            stats["counts"][column] = [[str(value), n] for value, n in rows]
    if {"answer", "question_type"} <= columns:
        rows = con.execute(
            """SELECT question_type, answer, count(*) AS n FROM kept_records
               GROUP BY ALL ORDER BY question_type, n DESC, answer"""
        ).fetchall()
        top: dict[str, list[list[Any]]] = {}
        for question_type, answer, n in rows:
            if len(top.setdefault(question_type, [])) < 10:
                top[question_type].append([answer, n])
        stats["top_answers"] = top
    if {"options", "answer_index"} <= columns:
        stats["position_balance"] = _position_balance(con)
    if "prompt" in columns:
        row = con.execute(
            """SELECT avg(len(prompt)), min(len(prompt)), max(len(prompt)),
                      avg(len(string_split(prompt, ' '))) FROM (SELECT DISTINCT image_id, prompt FROM kept_records)"""
        ).fetchone()
        stats["prompt_length"] = {
            "mean_chars": round(row[0] or 0, 1),
            "min_chars": row[1],
            "max_chars": row[2],
            "mean_words": round(row[3] or 0, 1),
        }
    if table_exists(con, "scenario_outputs"):
        rows = con.execute(
            """SELECT scenario, count(*) FILTER (WHERE path IS NOT NULL), count(*) FILTER (WHERE path IS NULL)
               FROM scenario_outputs GROUP BY 1 ORDER BY 1"""
        ).fetchall()
        stats["scenarios"] = [{"scenario": s, "outputs": n, "skipped": k} for s, n, k in rows]
        stats.update(_scenario_details(con))
    if table_exists(con, "renders"):
        row = con.execute(
            """SELECT count(DISTINCT r.image_id), count(q.id) FROM renders r
               LEFT JOIN records q ON q.image_id = r.image_id WHERE r.path IS NULL"""
        ).fetchone()
        if row[0]:
            stats["skipped_sources"] = {"images": row[0], "records": row[1]}
    if table_exists(con, "drops"):
        rows = con.execute("SELECT kind, reason, count(*) FROM drops GROUP BY ALL ORDER BY 1, 2").fetchall()
        stats["drops"] = [{"kind": kind, "reason": reason, "count": n} for kind, reason, n in rows]
    return stats


def _scenario_details(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """What the scenarios applied, from the parameters stored with each output: the attack
    success rate against the surrogate, and how often each corruption type / severity was drawn."""
    details: dict[str, Any] = {}
    rows = con.execute(
        """SELECT scenario, params->>'attack' AS attack, CAST(params->>'eps' AS DOUBLE) AS eps,
                  count(*) AS n, avg(CAST(CAST(params->>'success' AS BOOLEAN) AS INTEGER)) AS rate,
                  avg(CAST(params->>'pred_before' = params->>'label' AS INTEGER)) AS accuracy_before
           FROM scenario_outputs WHERE path IS NOT NULL AND params->>'success' IS NOT NULL
           GROUP BY ALL ORDER BY 1, 2, 3"""
    ).fetchall()
    if rows:
        details["attack_success"] = [
            {
                "scenario": s,
                "attack": a,
                "eps": round(e or 0, 6),
                "samples": n,
                "success_rate": round(r, 4),
                "surrogate_accuracy_before": round(b, 4) if b is not None else None,
            }
            for s, a, e, n, r, b in rows
        ]
    rows = con.execute(
        """SELECT params->>'corruption', params->>'severity', count(*) FROM scenario_outputs
           WHERE path IS NOT NULL AND params->>'corruption' IS NOT NULL GROUP BY ALL ORDER BY 1, 2"""
    ).fetchall()
    if rows:
        details["corruptions"] = [{"corruption": c, "severity": v, "images": n} for c, v, n in rows]
    return details


def _position_balance(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rows = con.execute(
        """SELECT question_type, len(options) AS k, answer_index, count(*) FROM kept_records
           WHERE answer_index IS NOT NULL AND len(options) > 1 GROUP BY ALL ORDER BY 1, 2, 3"""
    ).fetchall()
    groups: dict[tuple[str, int], list[int]] = {}
    for question_type, size, index, n in rows:
        groups.setdefault((question_type, size), [0] * size)[index] = n
    result = []
    for (question_type, size), counts in groups.items():
        total = sum(counts)
        result.append(
            {
                "question_type": question_type,
                "options": size,
                "counts": counts,
                "shares": [round(c / total, 3) for c in counts],
                "chi2_p": round(float(chisquare(counts).pvalue), 4) if total else 1.0,
            }
        )
    return result


def size_category(n: int) -> str:
    """The Hub's size_categories bucket for n rows."""
    bounds = [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ]
    for bound, label in bounds:
        if n < bound:
            return label
    return f"{10 ** int(math.log10(n))}<n"


def stats_tables(stats: dict[str, Any]) -> list[Any]:
    """`compute_stats`' result as rich tables for `hvgen stats` (the JSON keeps the raw values)."""
    from rich.table import Table

    def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
        result = Table(title=title, title_justify="left")
        for index, column in enumerate(columns):
            numeric = all(isinstance(row[index], int | float) for row in rows)
            result.add_column(column, justify="right" if numeric else "left")
        for row in rows:
            result.add_row(*("" if value is None else str(value) for value in row))
        return result

    tables = [
        table(f"questions per {column}", (column, "questions"), rows)
        for column, rows in stats["counts"].items()
    ]
    if stats.get("position_balance"):
        tables.append(
            table(
                "answer-position balance (a chi² p near 0: the answer favours a position)",
                ("question type", "options", "answers per position", "chi² p"),
                [
                    (r["question_type"], r["options"], " / ".join(map(str, r["counts"])), r["chi2_p"])
                    for r in stats["position_balance"]
                ],
            )
        )
    if stats.get("prompt_length"):
        length = stats["prompt_length"]
        tables.append(
            table(
                "prompt length",
                ("mean characters", "min", "max", "mean words"),
                [(length["mean_chars"], length["min_chars"], length["max_chars"], length["mean_words"])],
            )
        )
    if stats.get("skipped_sources"):
        skipped = stats["skipped_sources"]
        tables.append(
            table(
                "source images that do not decode (skipped)",
                ("images", "questions"),
                [(skipped["images"], skipped["records"])],
            )  # fmt: skip
        )
    if stats.get("scenarios"):
        tables.append(
            table(
                "scenario samples",
                ("scenario", "samples", "not applicable"),
                [(r["scenario"], r["outputs"], r["skipped"]) for r in stats["scenarios"]],
            )
        )
    if stats.get("attack_success"):
        tables.append(
            table(
                "attacks against the surrogate",
                ("scenario", "attack", "eps", "samples", "accuracy before", "success rate"),
                [
                    (
                        r["scenario"],
                        r["attack"],
                        r["eps"],
                        r["samples"],
                        "n/a"
                        if r["surrogate_accuracy_before"] is None
                        else f"{100 * r['surrogate_accuracy_before']:.1f} %",
                        f"{100 * r['success_rate']:.1f} %",
                    )
                    for r in stats["attack_success"]
                ],
            )
        )
    if stats.get("corruptions"):
        tables.append(
            table(
                "corruptions drawn",
                ("corruption", "severity", "images"),
                [(r["corruption"], r["severity"] or "fixed", r["images"]) for r in stats["corruptions"]],
            )
        )
    tables.append(
        table(
            "dropped by `hvgen build`",
            ("kind", "reason", "count"),
            [(r["kind"], r["reason"], r["count"]) for r in stats.get("drops") or []]
            or [("-", "nothing dropped", 0)],
        )
    )
    return tables
