"""Measures for a scorer that ranks candidates and says when none fits."""

from __future__ import annotations


def auc(positive: list[float], negative: list[float]) -> float:
    """P(a random positive scores above a random negative)."""
    if not positive or not negative:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return float(wins / (len(positive) * len(negative)))
