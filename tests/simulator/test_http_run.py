"""The simulator drives a live platform through its public HTTP APIs only: events are stored,
decisions are made and logged, outcomes are recorded, and held-out orders are attributed."""

from __future__ import annotations

import time

import pytest

from decisions.models import Decision, DecisionStatus, Outcome, OutcomeKind
from events.models import Event
from simulator.runner import SimulatorConfig, simulate


@pytest.mark.django_db(transaction=True)
def test_simulator_drives_the_platform_over_http(platform_url, ingest_worker, store) -> None:
    # given a live platform with the starter catalog
    config = SimulatorConfig(
        url=platform_url, write_key=store.write_key, secret_key=store.secret_key, seed=11, rate=0, sessions=60
    )
    # when the simulator runs 60 visits
    report = simulate(config)
    # then every visit got a decision and every message was stored
    assert report.errors == 0, report.last_error
    assert report.visits + report.skipped == 60
    decisions = Decision.objects.filter(workspace=store.workspace)
    assert decisions.count() == report.visits
    assert Event.objects.filter(workspace=store.workspace).count() == report.messages
    assert decisions.filter(status=DecisionStatus.ACTED).exists()
    assert set(decisions.exclude(chosen_key="").values_list("chosen_key", flat=True)) <= {
        "cart_reminder",
        "checkout_help",
        "weekly_newsletter",
        "flash_promo",
    }
    # and the orders that followed a decision with an action become conversions once the worker
    # attributed them (an order after a do-nothing decision may go to the person's earlier one)
    expected = report.attributable_orders
    deadline = time.monotonic() + 60
    converted = 0
    while time.monotonic() < deadline:
        converted = Outcome.objects.filter(workspace=store.workspace, kind=OutcomeKind.CONVERTED).count()
        if converted >= expected:
            break
        time.sleep(0.5)
    assert 0 < expected <= converted <= report.orders
    assert Outcome.objects.filter(workspace=store.workspace, kind=OutcomeKind.OPENED, source="api").exists()
