from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from profiles.encoders import EMBEDDING_DIMS, behaviour_vectors, content_vectors, decayed_sum, item_vectors

CATALOG = [
    "Trail running shoes men waterproof",
    "Trail running shoes women lightweight",
    "Road running shoes cushioned",
    "Espresso coffee beans dark roast",
    "Filter coffee beans light roast",
    "Ceramic coffee mug",
]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_content_vectors_put_similar_text_together() -> None:
    vectors = content_vectors(CATALOG)
    assert vectors.shape == (6, 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert _cos(vectors[0], vectors[1]) > _cos(vectors[0], vectors[3])
    assert _cos(vectors[3], vectors[4]) > _cos(vectors[3], vectors[0])


def test_behaviour_vectors_learn_from_co_occurrence() -> None:
    # People who buy item 0 also buy item 5 (not similar in text); nobody pairs 0 with 3.
    histories = [[0, 5], [0, 5, 2], [1, 2], [3, 4], [3, 4], [0, 5]]
    vectors = behaviour_vectors(histories, 6)
    assert _cos(vectors[0], vectors[5]) > _cos(vectors[0], vectors[3])


def test_item_vectors_have_full_dimension_and_are_deterministic() -> None:
    histories = [[0, 1], [3, 4, 5]]
    first = item_vectors(CATALOG, histories, seed=7)
    second = item_vectors(CATALOG, histories, seed=7)
    assert first.shape == (6, EMBEDDING_DIMS)
    assert np.array_equal(first, second)


@pytest.mark.parametrize("texts", [[], ["only one item"], ["", "  "]])
def test_tiny_or_empty_catalogs_do_not_fail(texts: list[str]) -> None:
    vectors = item_vectors(texts, [])
    assert vectors.shape == (len(texts), EMBEDDING_DIMS)
    assert np.all(np.isfinite(vectors))


def test_decayed_sum_halves_old_interest_and_is_order_independent() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    half_life = timedelta(days=7)
    shoes, coffee = np.eye(2, dtype=np.float32)
    in_order = decayed_sum(current=None, current_at=None, item=shoes, weight=1.0, at=t0, half_life=half_life)
    in_order = decayed_sum(
        current=in_order, current_at=t0, item=coffee, weight=1.0, at=t0 + half_life, half_life=half_life
    )
    assert np.allclose(in_order, [0.5, 1.0])  # a week later, shoes count half
    late = decayed_sum(current=None, current_at=None, item=coffee, weight=1.0, at=t0 + half_life, half_life=half_life)
    late = decayed_sum(current=late, current_at=t0 + half_life, item=shoes, weight=1.0, at=t0, half_life=half_life)
    assert np.allclose(late, in_order)
