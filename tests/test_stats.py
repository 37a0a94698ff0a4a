"""Statistics computed in DuckDB match a hand count on a small catalog."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from hvgen.stats import compute_stats, size_category
from hvgen.store.catalog import reset_kept_views


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    records = [
        # id, image, style, question type, options, answer index
        ("r1", "i1", "watercolor", "multi choice", ["a", "b", "c", "d"], 0, "a photo"),
        ("r2", "i1", "watercolor", "true or false", ["True", "False"], 1, "a photo"),
        ("r3", "i2", "pixel art", "multi choice", ["a", "b", "c", "d"], 0, "two words here"),
        ("r4", "i2", "pixel art", "multi choice", ["a", "b", "c", "d"], 3, "two words here"),
        ("r5", "i3", "pixel art", "free form", [], None, "x"),
    ]
    table = pa.Table.from_pylist(
        [
            {
                "id": r[0],
                "image_id": r[1],
                "style": r[2],
                "question_type": r[3],
                "options": r[4],
                "answer": r[4][r[5]] if r[4] else "free text",
                "answer_index": r[5],
                "prompt": r[6],
            }
            for r in records
        ]
    )
    connection = duckdb.connect()
    connection.register("src", table)
    connection.execute("CREATE TABLE records AS SELECT * FROM src")
    connection.execute("CREATE TABLE images AS SELECT DISTINCT image_id FROM records")
    reset_kept_views(connection)
    connection.execute(
        "CREATE TABLE drops (kind VARCHAR, id VARCHAR, reason VARCHAR, collided_with VARCHAR, distance INTEGER)"
    )
    connection.execute(
        "INSERT INTO drops VALUES ('image', 'i9', 'near_duplicate', 'i1', 3), ('record', 'r9', 'dropped_image', 'i9', NULL)"
    )
    return connection


def test_counts_match_a_hand_count(con: duckdb.DuckDBPyConnection) -> None:
    stats = compute_stats(con, ["style", "question_type", "not_a_column"])
    assert stats["records"] == 5 and stats["images"] == 3
    assert stats["counts"]["style"] == [["pixel art", 3], ["watercolor", 2]]
    assert dict(stats["counts"]["question_type"]) == {"multi choice": 3, "true or false": 1, "free form": 1}
    assert "not_a_column" not in stats["counts"]


def test_position_balance_and_prompt_lengths(con: duckdb.DuckDBPyConnection) -> None:
    stats = compute_stats(con, ["style"])
    balance = {(row["question_type"], row["options"]): row for row in stats["position_balance"]}
    assert balance[("multi choice", 4)]["counts"] == [2, 0, 0, 1]
    assert balance[("true or false", 2)]["counts"] == [0, 1]
    assert 0 < balance[("multi choice", 4)]["chi2_p"] < 1
    # distinct prompts: "a photo" (7 chars, 2 words), "two words here" (14, 3), "x" (1, 1)
    assert stats["prompt_length"] == {
        "mean_chars": round(22 / 3, 1),
        "min_chars": 1,
        "max_chars": 14,
        "mean_words": 2.0,
    }
    assert stats["top_answers"]["multi choice"][0] == ["a", 2]
    assert {(d["reason"], d["count"]) for d in stats["drops"]} == {
        ("near_duplicate", 1),
        ("dropped_image", 1),
    }


@pytest.mark.parametrize(("n", "label"), [(5, "n<1K"), (1000, "1K<n<10K"), (152_686, "100K<n<1M")])
def test_size_categories(n: int, label: str) -> None:
    assert size_category(n) == label


def test_attack_success_and_corruption_counts(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TABLE scenario_outputs (scenario VARCHAR, level VARCHAR, key VARCHAR, path VARCHAR, params JSON, skip_reason VARCHAR)"
    )
    rows = [
        (
            "adversarial",
            "record",
            "r1",
            "a.png",
            '{"attack": "pgd", "eps": 0.0314, "label": 0, "pred_before": 0, "pred_after": 1, "success": true}',
        ),
        (
            "adversarial",
            "record",
            "r2",
            "b.png",
            '{"attack": "pgd", "eps": 0.0314, "label": 1, "pred_before": 1, "pred_after": 1, "success": false}',
        ),
        (
            "adversarial",
            "record",
            "r3",
            "c.png",
            '{"attack": "pgd", "eps": 0.0314, "label": 2, "pred_before": 0, "pred_after": 0, "success": true}',
        ),
        ("adversarial", "record", "r4", None, "{}"),
        (
            "corruption",
            "image",
            "i1",
            "d.png",
            '{"corruption": "spatter", "severity": null, "preset": "dysca"}',
        ),
        (
            "corruption",
            "image",
            "i2",
            "e.png",
            '{"corruption": "spatter", "severity": null, "preset": "dysca"}',
        ),
    ]
    con.executemany("INSERT INTO scenario_outputs VALUES (?, ?, ?, ?, ?, NULL)", rows)
    stats = compute_stats(con, ["style"])
    (attack,) = stats["attack_success"]
    assert attack["samples"] == 3 and attack["success_rate"] == round(2 / 3, 4)
    assert attack["surrogate_accuracy_before"] == round(2 / 3, 4)
    assert stats["corruptions"] == [{"corruption": "spatter", "severity": None, "images": 2}]
    assert {row["scenario"]: row["skipped"] for row in stats["scenarios"]} == {
        "adversarial": 1,
        "corruption": 0,
    }
