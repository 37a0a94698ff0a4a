"""Holm's step-down correction across subtasks.

Holm rather than Benjamini–Hochberg: a subtask flagged for contamination is a claim about a
model that its authors will have to answer, so the family-wise error (the chance of flagging any
clean subtask) is what must stay below alpha, not the expected share of false flags. Holm controls
it under any dependence between the subtasks' tests and is uniformly more powerful than
Bonferroni.
"""

from __future__ import annotations

from collections.abc import Mapping


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm-adjusted p-values (reject a hypothesis at level alpha when its adjusted p <= alpha)."""
    ordered = sorted(p_values.items(), key=lambda item: (item[1], item[0]))
    count = len(ordered)
    adjusted: dict[str, float] = {}
    running = 0.0
    for rank, (name, p) in enumerate(ordered):
        running = max(running, min(1.0, (count - rank) * p))
        adjusted[name] = running
    return adjusted
