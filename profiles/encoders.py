"""Embedding encoders that need no network and no GPU.

Items get a vector from two halves, each L2-normalised, concatenated and normalised again:

- *content*: TF-IDF over the item's text (name, category, description), reduced with a
  truncated SVD (latent semantic analysis);
- *behaviour*: item-item co-occurrence in people's engagement histories, as positive
  pointwise mutual information (PPMI), reduced with a truncated SVD.

People get the decayed sum of the vectors of the items they engaged with (views, carts,
purchases, weighted), halving every ``half_life``: recent intent dominates and old interest
fades. Cosine similarity ignores length, so the sum needs no normalisation and can be
updated one event at a time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

CONTENT_DIMS = 32
BEHAVIOUR_DIMS = 32
EMBEDDING_DIMS = CONTENT_DIMS + BEHAVIOUR_DIMS


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def _reduce(matrix: sparse.csr_matrix, dims: int, seed: int) -> np.ndarray:
    """Truncated SVD to ``dims`` columns, zero-padded when the data has fewer dimensions."""
    rows, cols = matrix.shape
    out = np.zeros((rows, dims), dtype=np.float32)
    rank = min(dims, rows - 1, cols - 1)
    if rank >= 1 and matrix.nnz:
        reduced = TruncatedSVD(n_components=rank, random_state=seed).fit_transform(matrix)
        out[:, :rank] = reduced
    elif matrix.nnz:  # one row or one column: keep what there is
        dense = matrix.toarray()[:, :dims]
        out[:, : dense.shape[1]] = dense
    return _normalise_rows(out)


def content_vectors(texts: Sequence[str], *, dims: int = CONTENT_DIMS, seed: int = 0) -> np.ndarray:
    if not texts:
        return np.zeros((0, dims), dtype=np.float32)
    cleaned = [text if text and text.strip() else "_" for text in texts]
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1, token_pattern=r"(?u)\b\w+\b")  # noqa: S106
    tfidf = vectorizer.fit_transform(cleaned)
    return _reduce(tfidf.tocsr(), dims, seed)


def behaviour_vectors(
    histories: Sequence[Sequence[int]], n_items: int, *, dims: int = BEHAVIOUR_DIMS, seed: int = 0
) -> np.ndarray:
    """``histories``: per person, the indexes (0..n_items-1) of the items they engaged with."""
    if n_items == 0:
        return np.zeros((0, dims), dtype=np.float32)
    rows: list[int] = []
    cols: list[int] = []
    for history in histories:
        unique = sorted(set(history))
        for i in unique:
            for j in unique:
                if i != j:
                    rows.append(i)
                    cols.append(j)
    counts = sparse.coo_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(n_items, n_items)).tocsr()
    total = counts.sum()
    if total == 0:
        return np.zeros((n_items, dims), dtype=np.float32)
    row_sums = np.asarray(counts.sum(axis=1)).ravel()
    col_sums = np.asarray(counts.sum(axis=0)).ravel()
    coo = counts.tocoo()
    pmi = np.log((coo.data * total) / (row_sums[coo.row] * col_sums[coo.col]))
    keep = pmi > 0
    ppmi = sparse.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=(n_items, n_items))
    # Each item is its own strongest context: with the diagonal set, two items bought together
    # share columns (each other's), so row similarity captures "bought together", not only
    # "bought with the same third items".
    strongest = np.asarray(ppmi.max(axis=1).todense()).ravel()
    diagonal = sparse.diags(np.where(strongest > 0, strongest, 1.0))
    return _reduce((ppmi + diagonal).tocsr(), dims, seed)


def item_vectors(texts: Sequence[str], histories: Sequence[Sequence[int]], *, seed: int = 0) -> np.ndarray:
    content = content_vectors(texts, seed=seed)
    behaviour = behaviour_vectors(histories, len(texts), seed=seed)
    return _normalise_rows(np.hstack([content, behaviour])).astype(np.float32)


def decayed_sum(
    *,
    current: np.ndarray | None,
    current_at: datetime | None,
    item: np.ndarray,
    weight: float,
    at: datetime,
    half_life: timedelta,
) -> np.ndarray:
    """Add one engagement to a person's vector. Events older than ``current_at`` are added
    with their own decay relative to it, so out-of-order arrival gives the same result."""
    item = np.asarray(item, dtype=np.float32)
    if current is None or current_at is None:
        return (weight * item).astype(np.float32)
    h = half_life.total_seconds()
    if at >= current_at:
        factor = math.pow(0.5, (at - current_at).total_seconds() / h)
        return (np.asarray(current, dtype=np.float32) * factor + weight * item).astype(np.float32)
    factor = math.pow(0.5, (current_at - at).total_seconds() / h)
    return (np.asarray(current, dtype=np.float32) + weight * factor * item).astype(np.float32)
