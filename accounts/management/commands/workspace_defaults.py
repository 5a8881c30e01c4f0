"""Install (or top up) the shipped defaults of a workspace: starter actions, playbooks, teams."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.defaults import workspace_defaults_install
from accounts.models import Workspace


class Command(BaseCommand):
    help = "Install the shipped defaults every app registers into a workspace (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workspace", help="Workspace slug")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"no workspace with slug {options['workspace']!r}")
        ran = workspace_defaults_install(workspace=workspace)
        self.stdout.write(f"installed defaults into {workspace.slug}: {', '.join(ran) or 'none registered'}")
