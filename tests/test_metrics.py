"""The metrics on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from rag.evaluation.metrics import (
    first_hit_rank,
    full_recall_at,
    ndcg_at,
    recall_at,
    reciprocal_rank,
    supports,
    token_f1,
)

# Ranks 1..5: a miss, gold item 0, a miss, gold item 1, gold item 0 again.
RANKING = [set(), {0}, set(), {1}, {0}]


def test_rank_recall_and_mrr_of_a_known_ranking() -> None:
    assert first_hit_rank(RANKING) == 2
    assert [recall_at(RANKING, k) for k in (1, 3, 5)] == [0.0, 1.0, 1.0]
    assert reciprocal_rank(RANKING) == 0.5
    assert reciprocal_rank(RANKING, k=1) == 0.0
    assert full_recall_at(RANKING, 3, n_gold=2) == 0.0
    assert full_recall_at(RANKING, 4, n_gold=2) == 1.0


def test_ndcg_counts_each_gold_item_once() -> None:
    dcg = 1 / math.log2(3) + 1 / math.log2(5)  # ranks 2 and 4; rank 5 repeats gold item 0
    ideal = 1 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at(RANKING, 10, n_gold=2) == pytest.approx(dcg / ideal)
    assert ndcg_at([{0}, {1}], 10, n_gold=2) == pytest.approx(1.0)
    assert ndcg_at([set(), set()], 10, n_gold=1) == 0.0


def test_no_hit_at_all() -> None:
    assert first_hit_rank([set(), set()]) is None
    assert reciprocal_rank([]) == 0.0 and recall_at([], 5) == 0.0


def test_token_f1() -> None:
    assert token_f1("EUR 100 miljoen", "EUR 100 miljoen.") == 1.0
    # 2 common tokens; precision 2/4, recall 2/3
    assert token_f1("meer dan 100 miljoen", "EUR 100 miljoen") == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert token_f1("", "iets") == 0.0


def test_support_means_the_answer_holds_the_gold_quote() -> None:
    answer = "Tot op heden heeft Nederland EUR 100 miljoen aan dit fonds bijgedragen. [1]"
    assert supports(answer, "heeft Nederland EUR 100 miljoen aan dit fonds bijgedragen")
    assert not supports("Nederland steunt Oekraïne. [1]", "heeft Nederland EUR 100 miljoen aan dit fonds bijgedragen")
