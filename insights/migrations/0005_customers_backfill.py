"""Fill the RFM inputs from the features already stored (each workspace in one pass)."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def backfill(apps: Any, schema_editor: Any) -> None:
    # The service reads the tables by name, so it runs on the historical schema.
    from insights.services import customers_refresh

    for workspace_id in apps.get_model("accounts", "Workspace").objects.values_list("id", flat=True):
        customers_refresh(workspace_id=workspace_id)


class Migration(migrations.Migration):
    dependencies = [("insights", "0004_customer"), ("profiles", "0001_initial")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
