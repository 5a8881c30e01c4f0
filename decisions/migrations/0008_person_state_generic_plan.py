"""``decisions_person_state`` keeps one generic plan per session.

The plan cache re-plans a PL/pgSQL statement on every call while a custom plan looks cheaper than
the generic one; the person-state query's five probes plan the same either way (workspace,
profile and policy equalities, the week's lower bound), so re-planning was pure cost (measured in
a loop of 1,000 calls on the benchmark database: 0.11-0.17 ms per call, then 0.08).
"""

from __future__ import annotations

from django.db import migrations

SIGNATURE = "decisions_person_state(bigint, uuid, uuid, text, timestamptz, timestamptz, text[], text[])"


class Migration(migrations.Migration):
    dependencies = [("decisions", "0007_person_state_function")]

    operations = [
        migrations.RunSQL(
            f"ALTER FUNCTION {SIGNATURE} SET plan_cache_mode = force_generic_plan;",
            f"ALTER FUNCTION {SIGNATURE} RESET plan_cache_mode;",
        )
    ]
