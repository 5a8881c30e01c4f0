"""``decisions_person_state`` returns the features state as ``json``: the column's type since
profiles 0010 (a PL/pgSQL ``RETURN QUERY`` does not cast, and a cast back to ``jsonb`` would
parse the document on every decision). Same body as 0007, same generic plan as 0008."""

from __future__ import annotations

import importlib

from django.db import migrations

_function = importlib.import_module("decisions.migrations.0007_person_state_function")
_plan = importlib.import_module("decisions.migrations.0008_person_state_generic_plan")

FORWARD = _function.FORWARD.replace("RETURNS TABLE (features jsonb,", "RETURNS TABLE (features json,")
if FORWARD == _function.FORWARD:
    raise RuntimeError("decisions 0007 no longer declares features jsonb")
SET_PLAN = f"ALTER FUNCTION {_plan.SIGNATURE} SET plan_cache_mode = force_generic_plan;"


class Migration(migrations.Migration):
    dependencies = [
        ("decisions", "0008_person_state_generic_plan"),
        ("profiles", "0010_features_json_text"),
    ]

    operations = [
        migrations.RunSQL(
            _function.BACKWARD + FORWARD + SET_PLAN,
            _function.BACKWARD + _function.FORWARD + SET_PLAN,
        )
    ]
