"""Scoring fixtures: a generated world stored once per session through the real ingestion path,
and models trained on it (in memory; each test records what it needs in its own transaction).

The stored world is committed outside any test transaction, so tests marked
``django_db(transaction=True)`` (which empty the tables afterwards) live in ``test_zz_worker.py``,
which runs after every other scoring test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from django.test import override_settings

from accounts.models import Workspace
from accounts.roles import Role
from accounts.services import workspace_create
from profiles.models import IdentifierKind
from profiles.selectors import profile_by_identifier
from scoring.realtime import active_models_forget
from simulator.world import Person, World, WorldConfig, world_generate
from tests.factories import make_user

# Windows scaled to an eight-week world so that tests stay fast.
SMALL_SETTINGS: dict[str, Any] = {
    "SCORING_CONVERSION_HORIZON_DAYS": 7,
    "SCORING_CHURN_HORIZON_DAYS": 14,
    "SCORING_CHURN_POPULATION_DAYS": 21,
    "SCORING_TRAINING_CUTOFFS": 3,
    "SCORING_CUTOFF_STEP_DAYS": 5,
    "SCORING_MIN_TRAINING_ROWS": 50,
    "SCORING_MIN_POSITIVES": 5,
    "SCORING_CLV_HOLDOUT_DAYS": 14,
    "SCORING_DRIFT_SAMPLE": 500,
}
WORLD = WorldConfig(people=150, days=56, seed=11)


@pytest.fixture(autouse=True)
def _small_windows(settings: Any) -> Iterator[None]:
    for name, value in SMALL_SETTINGS.items():
        setattr(settings, name, value)
    active_models_forget()
    yield
    active_models_forget()


@dataclass
class StoredWorld:
    workspace_id: UUID
    world: World
    now: datetime

    @property
    def workspace(self) -> Workspace:
        found = Workspace.objects.filter(pk=self.workspace_id).first()
        assert found is not None, "the session world was flushed: transactional tests must run last"
        return found

    def workspace_owner(self) -> Any:
        return self.workspace.memberships.get(role=Role.OWNER).user

    def profile_id(self, person: Person) -> str:
        profile = profile_by_identifier(
            workspace=self.workspace, kind=IdentifierKind.ANONYMOUS_ID, value=person.anonymous_id
        )
        assert profile is not None
        return str(profile.pk)

    def single_device_people(self) -> list[Person]:
        """People with events who used one device only (so one profile, never merged)."""
        return [p for p in self.world.people if p.second_anonymous_id is None and (p.sessions or p.cancelled)]


def ingest_world(*, name: str, config: WorldConfig, now: datetime) -> tuple[Workspace, World]:
    from scoring.evaluation import world_ingest

    workspace = workspace_create(name=name, owner=make_user())
    world = world_generate(WorldConfig(**{**config.__dict__, "end": now}))
    world_ingest(workspace=workspace, world=world, received_at=now)
    return workspace, world


@pytest.fixture(scope="session")
def stored_world(django_db_setup: Any, django_db_blocker: Any) -> StoredWorld:
    now = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    with django_db_blocker.unblock(), override_settings(**SMALL_SETTINGS):
        workspace, world = ingest_world(name="Scoring world", config=WORLD, now=now)
    return StoredWorld(workspace_id=workspace.id, world=world, now=now)


@pytest.fixture(scope="session")
def trained(stored_world: StoredWorld, django_db_blocker: Any) -> dict[str, Any]:
    """Conversion, churn and CLV trained on the stored world as of its end (nothing written)."""
    from scoring.evaluation import evaluation_run

    with django_db_blocker.unblock(), override_settings(**SMALL_SETTINGS):
        result = evaluation_run(workspace=stored_world.workspace, end=stored_world.now, seed=7)
    return dict(result.models)
