"""An index that holds everything the insights page reads of the window's decisions (allocation
per action and bucket, latency histogram and percentiles), so those reads never touch the table's
wide rows (inputs, candidates, explanation). Raw SQL with no model state, so the model's
``Meta.indexes`` stays as it is (owned by the decisions app)."""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("decisions", "0002_approvalcategory_approvalreview")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS decision_window_cover ON decisions_decision "
            "(workspace_id, created_at) INCLUDE (status, chosen_key, latency_ms)",
            "DROP INDEX IF EXISTS decision_window_cover",
        )
    ]
