"""Scoring one person now, in process, with the workspace's active models.

Artifacts are loaded from the registry once and kept per process; each call checks the active
versions' ids and digests with one small query and reloads only when they changed (a promotion in
another process is picked up on the next call). Loading verifies the artifact's SHA-256 against the
one recorded at training time and validates its fields; nothing is unpickled.

``score_person`` is pure computation on ``PersonFeatures``: no database access, well under a
millisecond per model (``bench/scoring.py`` measures it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from scoring.classifier import EXPLAIN_MIN_DELTA, LogisticArtifact
from scoring.clv_model import ClvArtifact, clv_inputs
from scoring.config import explain_top
from scoring.feature_spec import days_phrase, describe
from scoring.models import ModelKind, ModelStatus, ModelVersion

logger = logging.getLogger(__name__)

MIN_EXPLAINED_DELTA = EXPLAIN_MIN_DELTA
SCORE_NOUNS = {
    ModelKind.CONVERSION: "conversion propensity",
    ModelKind.CHURN: "churn risk",
    ModelKind.RESPONSE: "response propensity",
}


class ArtifactIntegrityError(ValueError):
    """A stored artifact does not match its recorded digest or is malformed."""


def _canonical(value: Any) -> Any:
    # PostgreSQL's jsonb has no negative zero: -0.0 comes back as 0.0, so it is hashed as 0.0.
    if isinstance(value, float):
        return value + 0.0
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value


def artifact_digest(artifact: Mapping[str, Any]) -> str:
    """SHA-256 of the artifact's canonical JSON (sorted keys, no whitespace, -0.0 as 0.0)."""
    canonical = json.dumps(_canonical(artifact), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def artifact_load(*, kind: str, artifact: Mapping[str, Any], digest: str) -> LogisticArtifact | ClvArtifact:
    if artifact_digest(artifact) != digest:
        raise ArtifactIntegrityError("artifact digest mismatch: the stored parameters were changed")
    try:
        if kind == ModelKind.CLV:
            return ClvArtifact.from_json(artifact)
        return LogisticArtifact.from_json(artifact)
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactIntegrityError(f"malformed {kind} artifact: {exc}") from exc


@dataclass(frozen=True)
class LoadedModel:
    version_id: UUID
    version: int
    kind: str
    action: str
    model: LogisticArtifact | ClvArtifact


@dataclass(frozen=True)
class ActiveModels:
    key: tuple[tuple[str, str], ...] = ()
    models: tuple[LoadedModel, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.models)

    def get(self, kind: str, action: str = "") -> LoadedModel | None:
        return next((m for m in self.models if m.kind == kind and m.action == action), None)


@dataclass(frozen=True)
class ScoreResult:
    kind: str
    action: str
    value: float
    version_id: UUID
    version: int
    explanation: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


_lock = threading.Lock()
_cache: dict[str, ActiveModels] = {}


def active_models(workspace_id: UUID | str) -> ActiveModels:
    rows = list(
        ModelVersion.objects.filter(workspace_id=workspace_id, status=ModelStatus.ACTIVE)
        .order_by("kind", "action")
        .values_list("id", "artifact_sha256")
    )
    key = tuple((str(pk), digest) for pk, digest in rows)
    with _lock:
        cached = _cache.get(str(workspace_id))
    if cached is not None and cached.key == key:
        return cached
    loaded = tuple(
        LoadedModel(
            version_id=v.id,
            version=v.version,
            kind=v.kind,
            action=v.action,
            model=artifact_load(kind=v.kind, artifact=v.artifact, digest=v.artifact_sha256),
        )
        for v in ModelVersion.objects.filter(pk__in=[pk for pk, _ in rows]).order_by("kind", "action")
    )
    fresh = ActiveModels(key=key, models=loaded)
    with _lock:
        _cache[str(workspace_id)] = fresh
    return fresh


def active_models_forget() -> None:
    with _lock:
        _cache.clear()


def _noun(kind: str, action: str) -> str:
    noun = SCORE_NOUNS.get(ModelKind(kind), kind)
    return f"{noun} for {action}" if action else noun


def explain_classifier(kind: str, action: str, contributions: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for c in contributions:
        if abs(c.delta) < MIN_EXPLAINED_DELTA:
            continue
        verb = "raised" if c.delta > 0 else "lowered"
        out.append(
            {
                "feature": c.key,
                "text": f"{describe(c.key, c.raw)} {verb} {_noun(kind, action)} by {abs(c.delta):.2f}",
                "delta": round(c.delta, 4),
            }
        )
    return out


def score_person(models: ActiveModels, person: Any, *, explain: int | None = None) -> list[ScoreResult]:
    """Every active model's score of ``person`` (``PersonFeatures``); CLV only for customers."""
    top = explain_top() if explain is None else explain
    results: list[ScoreResult] = []
    for loaded in models.models:
        model = loaded.model
        if isinstance(model, ClvArtifact):
            inputs = clv_inputs(person)
            if inputs is None:
                continue
            try:
                parts = model.value(inputs)
            except ValueError:  # degenerate inputs: better no CLV than a wrong one
                logger.warning("no CLV for %s: not finite with model v%s", person.profile_id, loaded.version)
                continue
            explanation = [
                {
                    "feature": "probability_alive",
                    "text": f"{inputs.orders} orders, the last {days_phrase(inputs.last_order_days_ago)} ago: "
                    f"probability still a customer {parts['probability_alive']:.2f}",
                    "delta": None,
                },
                {
                    "feature": "expected_purchases",
                    "text": f"expected {parts['expected_purchases']:.2f} orders in the next "
                    f"{model.horizon_days:.0f} days",
                    "delta": None,
                },
                {
                    "feature": "expected_order_value",
                    "text": f"expected order value {parts['expected_order_value']:,.2f} "
                    f"(own average {inputs.monetary_value:,.2f})",
                    "delta": None,
                },
            ][: max(top, 0)]
            results.append(
                ScoreResult(
                    kind=loaded.kind,
                    action=loaded.action,
                    value=parts["clv"],
                    version_id=loaded.version_id,
                    version=loaded.version,
                    explanation=explanation,
                    details={k: round(v, 6) for k, v in parts.items()},
                )
            )
            continue
        probability, contributions = model.score(person, explain=top)
        results.append(
            ScoreResult(
                kind=loaded.kind,
                action=loaded.action,
                value=probability,
                version_id=loaded.version_id,
                version=loaded.version,
                explanation=explain_classifier(loaded.kind, loaded.action, contributions),
            )
        )
    return results
