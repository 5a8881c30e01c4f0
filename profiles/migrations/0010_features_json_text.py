"""Features rows keep ``state`` and ``computed`` as ``json`` (validated text), not ``jsonb``.

Every batch that touches a person rewrites both documents whole, inside the identity locks, and
reads ``state`` whole. Measured with ``EXPLAIN ANALYZE`` on the benchmark data (95 rows, about
1 KB each): casting the text to ``jsonb`` took 1.4 ms per column against 0.3 ms for ``json``,
and printing ``jsonb`` back as text 0.8 ms against 0.05 ms.

The functions that return ``state`` must declare the new type (a PL/pgSQL ``RETURN QUERY``
does not cast), so both identity functions are recreated from 0009 with ``out_features json``.
``decisions_person_state`` follows in decisions 0009.
"""

from __future__ import annotations

import importlib

from django.db import migrations

import core.fields

_previous = importlib.import_module("profiles.migrations.0009_identify_peek_and_versions")

DROP = """
DROP FUNCTION IF EXISTS profiles_identify_peek(uuid, text[], text[]);
DROP FUNCTION IF EXISTS profiles_identify_locked(uuid, bigint[], text[], text[], uuid[], text[]);
"""
FUNCTIONS = _previous.FORWARD.replace("out_features jsonb", "out_features json")
if FUNCTIONS == _previous.FORWARD:
    raise RuntimeError("profiles 0009 no longer declares out_features jsonb")


class Migration(migrations.Migration):
    dependencies = [("profiles", "0009_identify_peek_and_versions")]

    operations = [
        migrations.AlterField(
            model_name="profilefeatures",
            name="computed",
            field=core.fields.JSONTextField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="profilefeatures",
            name="state",
            field=core.fields.JSONTextField(blank=True, default=dict),
        ),
        migrations.RunSQL(DROP + FUNCTIONS, DROP + _previous.FORWARD),
    ]
