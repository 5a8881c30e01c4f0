"""Signals and playbooks are validated on save with clear errors, versioned and audited."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.models import AuditEntry
from journeys.definitions import score_rule_matches, signal_errors, step_errors
from journeys.models import Playbook, Signal
from journeys.services import (
    DEFAULT_PLAYBOOK_KEY,
    DEFAULT_SIGNAL_KEY,
    JourneyError,
    journeys_defaults_install,
    playbook_save,
    signal_save,
)


def test_an_event_count_definition_names_every_wrong_field() -> None:
    errors = signal_errors("event_count", {"event": "", "count": 0, "window_minutes": -1}, "scores.clv >=")
    assert set(errors) == {"definition.event", "definition.count", "definition.window_minutes", "condition"}
    assert signal_errors("event_count", {"event": "payment_failed", "count": 3, "window_minutes": 10}, "") == {}


@pytest.mark.parametrize(
    ("kind", "definition", "field"),
    [
        ("score_change", {"score": "clv", "rule": "dropped"}, "definition.share"),
        ("score_change", {"score": "churn", "rule": "above"}, "definition.threshold"),
        ("score_change", {"score": "mood", "rule": "above", "threshold": 1}, "definition.score"),
        ("absence", {"event": "login", "days": 0}, "definition.days"),
        ("trait_change", {}, "definition.trait"),
        ("sometimes", {}, "kind"),
    ],
)
def test_other_kinds_explain_what_is_missing(kind, definition, field) -> None:
    assert field in signal_errors(kind, definition, "")


def test_steps_are_checked_one_by_one() -> None:
    errors = step_errors(
        [{"type": "suppress"}, {"type": "webhook", "endpoint": "erp", "event_type": "x"}, {"type": "fax"}],
        endpoint_keys=[],
    )
    assert errors == {
        "steps.1.event": "name the suppression rule's event, e.g. payment_failed",
        "steps.2.endpoint": "no webhook endpoint 'erp' yet; add it under Delivery",
        "steps.3.type": "use one of suppress, in_app, ticket, webhook",
    }


@given(st.floats(0.01, 1000), st.floats(0.01, 1000))
def test_a_30_percent_drop_rule_matches_exactly_the_drops_of_30_percent_or_more(old: float, new: float) -> None:
    matched = score_rule_matches({"rule": "dropped", "share": 0.3}, old, new)
    assert matched == ((old - new) / old >= 0.3)


def test_a_threshold_rule_fires_on_the_crossing_only() -> None:
    rule = {"rule": "above", "threshold": 0.7}
    assert score_rule_matches(rule, 0.5, 0.8) and score_rule_matches(rule, None, 0.71)
    assert not score_rule_matches(rule, 0.75, 0.8) and not score_rule_matches(rule, 0.8, 0.6)


@pytest.mark.django_db
def test_saving_a_signal_versions_and_audits_it(workspace) -> None:
    with pytest.raises(JourneyError) as caught:
        signal_save(
            workspace=workspace, actor=None, values={"key": "x", "name": "X", "kind": "absence", "definition": {}}
        )
    assert set(caught.value.errors) == {"definition.event", "definition.days"}
    signal = signal_save(
        workspace=workspace,
        actor=None,
        values={"key": "lapsed", "name": "Lapsed", "kind": "absence", "definition": {"event": "login", "days": 14}},
    )
    signal = signal_save(
        workspace=workspace,
        actor=None,
        signal=signal,
        values={"definition": {"event": "login", "days": 30}},
        reason="longer",
    )
    assert signal.version == 2
    assert [v.snapshot["definition"]["days"] for v in signal.versions.all()] == [30, 14]
    change = AuditEntry.objects.get(action="signal.changed", target_id="lapsed")
    assert change.before is not None and change.after is not None
    assert change.before["definition"]["days"] == 14 and change.after["definition"]["days"] == 30
    assert change.reason == "longer"


@pytest.mark.django_db
def test_the_shipped_playbook_installs_once(workspace) -> None:
    journeys_defaults_install(workspace=workspace)
    journeys_defaults_install(workspace=workspace)
    playbook = Playbook.objects.get(workspace=workspace, key=DEFAULT_PLAYBOOK_KEY)
    assert Signal.objects.filter(workspace=workspace).count() == 1
    assert playbook.signal.key == DEFAULT_SIGNAL_KEY and playbook.signal.condition == "scores.clv_percentile >= 0.8"
    assert [s["type"] for s in playbook.steps] == ["suppress", "in_app", "ticket", "webhook"]
    assert playbook.steps[2]["tags"] == ["High CLV risk / payment failure"]
    assert AuditEntry.objects.filter(action="playbook.created", target_id=DEFAULT_PLAYBOOK_KEY).count() == 1


@pytest.mark.django_db
def test_a_playbook_needs_its_endpoint_and_a_signal(workspace) -> None:
    with pytest.raises(JourneyError) as caught:
        playbook_save(
            workspace=workspace,
            actor=None,
            values={"key": "p", "name": "P", "steps": [{"type": "webhook", "endpoint": "erp", "event_type": "x"}]},
        )
    assert set(caught.value.errors) == {"steps.1.endpoint", "signal"}
