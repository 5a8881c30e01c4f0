"""Fill the rollups from the events already stored (each workspace in one pass)."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def backfill(apps: Any, schema_editor: Any) -> None:
    # The service reads only ``workspace.id`` and the tables by name, so the historical model does.
    # Customer rows come later (0004, filled by 0005): their table does not exist yet.
    from insights.services import rollups_rebuild

    for workspace in apps.get_model("accounts", "Workspace").objects.all():
        rollups_rebuild(workspace=workspace, with_customers=False)


class Migration(migrations.Migration):
    dependencies = [("insights", "0001_initial"), ("events", "0001_initial"), ("accounts", "0001_initial")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
