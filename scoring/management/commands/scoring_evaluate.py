"""Regenerate the measured model quality in docs/models.md from a generated world.

    python manage.py scoring_evaluate                # 800 people, 120 days: about a minute
    python manage.py scoring_evaluate --no-write     # print only
    python manage.py scoring_evaluate --keep --owner demo   # keep the workspace, models and scores

By default everything happens in one transaction that is rolled back: the world goes through the
real ingestion path into a scratch workspace, models are trained on it, and nothing stays behind.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.services import user_create, workspace_create
from profiles.models import Profile
from scoring.evaluation import evaluation_markdown, evaluation_run, world_ingest
from scoring.services import drift_report_compute, model_version_consider, model_version_create, scores_rescore_all
from simulator.world import WorldConfig, world_generate

START, END = "<!-- scoring_evaluate:start -->", "<!-- scoring_evaluate:end -->"


class Command(BaseCommand):
    help = "Train on a generated world with known ground truth and report held-out quality against baselines."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--people", type=int, default=800)
        parser.add_argument("--days", type=int, default=120)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--no-write", action="store_true", help="Print the report; leave docs/models.md alone.")
        parser.add_argument("--keep", action="store_true", help="Commit the workspace, its models and scores.")
        parser.add_argument("--owner", default="", help="With --keep: the username that owns the workspace.")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now().replace(second=0, microsecond=0)
        world = world_generate(
            WorldConfig(people=options["people"], days=options["days"], seed=options["seed"], end=now)
        )
        self.stdout.write(f"world: {len(world.messages):,} messages from {options['people']} people")
        with transaction.atomic():
            owner = self._owner(options)
            workspace = workspace_create(name=f"Evaluation world {options['seed']}", owner=owner)
            started = time.perf_counter()
            stored = world_ingest(
                workspace=workspace,
                world=world,
                received_at=now,
                progress=lambda done, total: (
                    self.stdout.write(f"ingested batch {done}/{total}") if done % 10 == 0 else None
                ),
            )
            ingest_seconds = time.perf_counter() - started
            profiles = Profile.objects.filter(workspace=workspace, merged_into__isnull=True).count()
            result = evaluation_run(workspace=workspace, end=now, seed=int(getattr(settings, "SCORING_SEED", 7)))
            if options["keep"]:
                for trained in result.models.values():
                    version = model_version_create(workspace=workspace, trained=trained, created_by="scoring_evaluate")
                    model_version_consider(candidate=version, holdout=trained.holdout)
                    drift_report_compute(version=version)
                scores_rescore_all(workspace=workspace)
            else:
                transaction.set_rollback(True)
        command = (
            f"python manage.py scoring_evaluate --people {options['people']} --days {options['days']} "
            f"--seed {options['seed']}"
        )
        report = evaluation_markdown(
            result=result, world=world, stored=stored, profiles=profiles, ingest_seconds=ingest_seconds, command=command
        )
        self.stdout.write(report)
        if not options["no_write"]:
            self._write(report)
            self.stdout.write(self.style.SUCCESS("docs/models.md updated"))
        if options["keep"]:
            self.stdout.write(self.style.SUCCESS(f"kept workspace {workspace.pk} ({workspace.name}) for {owner}"))

    def _owner(self, options: dict[str, Any]) -> Any:
        if options["owner"]:
            found = get_user_model().objects.filter(username=options["owner"]).first()
            if found is None:
                raise CommandError(f"no user {options['owner']!r}")
            return found
        return user_create(username=f"evaluator-{secrets.token_hex(4)}", password=secrets.token_urlsafe(24))

    def _write(self, report: str) -> None:
        doc = Path(settings.BASE_DIR) / "docs" / "models.md"
        text = doc.read_text()
        block = f"{START}\n{report.strip()}\n{END}"
        if START in text and END in text:
            text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        doc.write_text(text)
