"""Tone of a customer's message: negative, neutral or positive.

TF-IDF (word 1-2 grams plus character 3-5 grams, so unseen inflections still match) and a
multinomial logistic regression, trained on the "train" rows of support/data/sentiment.csv
(built by support/data/build_sentiment_set.py, documented in docs/support.md). Training takes a
fraction of a second, so the model is fitted once per process on first use: nothing is pickled
and nothing is downloaded.
"""

from __future__ import annotations

import csv
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "sentiment.csv"
LABELS = ("negative", "neutral", "positive")
# A message is called negative only when the model is reasonably sure; a doubtful tone should not
# push a ticket up the queue.
NEGATIVE_THRESHOLD = 0.5
SEED = 7

_lock = threading.Lock()


@dataclass(frozen=True)
class Tone:
    label: str
    probability: float  # of the label

    @property
    def is_negative(self) -> bool:
        return self.label == "negative" and self.probability >= NEGATIVE_THRESHOLD


def dataset(split: str | None = None) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    with DATA.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if split is None or row["split"] == split:
                texts.append(row["text"])
                labels.append(row["label"])
    return texts, labels


def build_model() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), lowercase=True, sublinear_tf=True, min_df=1)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=2)),
        ]
    )
    return Pipeline([("features", features), ("model", LogisticRegression(C=10.0, max_iter=2000, random_state=SEED))])


@lru_cache(maxsize=1)
def _trained() -> Any:
    texts, labels = dataset("train")
    model = build_model()
    model.fit(texts, labels)
    return model


def model() -> Any:
    with _lock:  # one fit per process even when threads race on the first message
        return _trained()


def tone(text: str) -> Tone:
    """The most likely tone of ``text``; empty text is neutral."""
    text = (text or "").strip()
    if not text:
        return Tone(label="neutral", probability=1.0)
    fitted = model()
    probabilities = fitted.predict_proba([text[:5000]])[0]
    best = int(probabilities.argmax())
    return Tone(label=str(fitted.classes_[best]), probability=round(float(probabilities[best]), 4))


def evaluate() -> dict[str, Any]:
    """Accuracy and macro F1 on the held-out templates (for docs/support.md and the tests)."""
    from sklearn.metrics import accuracy_score, f1_score

    texts, labels = dataset("test")
    predicted = list(model().predict(texts))
    train_texts, _ = dataset("train")
    return {
        "train_rows": len(train_texts),
        "test_rows": len(texts),
        "accuracy": round(float(accuracy_score(labels, predicted)), 4),
        "macro_f1": round(float(f1_score(labels, predicted, average="macro")), 4),
        "per_class_f1": {
            label: round(float(score), 4)
            for label, score in zip(LABELS, f1_score(labels, predicted, average=None, labels=list(LABELS)), strict=True)
        },
        "majority_baseline_accuracy": round(max(labels.count(x) for x in LABELS) / len(labels), 4),
    }
