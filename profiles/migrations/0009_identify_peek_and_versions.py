"""Big ingest batches prepare their features updates before taking the identity locks.

- ``profiles_identify_peek`` reads what ``profiles_identify_locked`` reads, without any lock:
  each identifier's profile, and each live profile's features with their row version (``xmin``).
- ``profiles_identify_locked`` takes the versions the caller saw (``p_known``, ``p_versions``)
  and returns a profile's features only when they changed since: the version it returns tells
  the caller whether what it prepared is still right.

Both keep one generic plan per session (see 0008).
"""

from __future__ import annotations

import importlib

from django.db import migrations

_previous = importlib.import_module("profiles.migrations.0007_identify_locked_function")

OLD_SIGNATURE = "profiles_identify_locked(uuid, bigint[], text[], text[])"

FORWARD = f"""
DROP FUNCTION IF EXISTS {OLD_SIGNATURE};

CREATE FUNCTION profiles_identify_locked(
    p_workspace uuid, p_locks bigint[], p_kinds text[], p_values text[], p_known uuid[], p_versions text[]
) RETURNS TABLE (out_kind text, out_value text, out_profile uuid, out_merged_into uuid,
                 out_created_at timestamptz, out_version text, out_features jsonb)
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_kinds text[];
    v_values text[];
    v_ids uuid[];
    v_merged uuid[];
    v_created timestamptz[];
BEGIN
    PERFORM pg_advisory_xact_lock(k) FROM (SELECT unnest(p_locks) AS k ORDER BY 1) AS ordered;
    SELECT array_agg(l.kind), array_agg(l.value), array_agg(l.id), array_agg(l.merged_into_id),
           array_agg(l.created_at)
      INTO v_kinds, v_values, v_ids, v_merged, v_created
      FROM (SELECT k.kind, k.value, p.id, p.merged_into_id, p.created_at
              FROM unnest(p_kinds, p_values) AS k(kind, value)
              CROSS JOIN LATERAL (SELECT i.profile_id FROM profiles_identifier AS i
                                   WHERE i.workspace_id = p_workspace AND i.kind = k.kind
                                     AND i.value = k.value OFFSET 0) AS i
              JOIN profiles_profile AS p ON p.id = i.profile_id
             ORDER BY p.id FOR UPDATE OF p) AS l;
    RETURN QUERY
        SELECT u.kind, u.value, u.id, u.merged, u.created, f.xmin::text,
               CASE WHEN e.version = f.xmin::text THEN NULL ELSE f.state END
          FROM unnest(v_kinds, v_values, v_ids, v_merged, v_created) AS u(kind, value, id, merged, created)
          LEFT JOIN profiles_profilefeatures AS f ON f.profile_id = u.id AND u.merged IS NULL
          LEFT JOIN unnest(p_known, p_versions) AS e(id, version) ON e.id = u.id;
END $$;

CREATE FUNCTION profiles_identify_peek(p_workspace uuid, p_kinds text[], p_values text[])
RETURNS TABLE (out_kind text, out_value text, out_profile uuid, out_merged_into uuid,
               out_created_at timestamptz, out_version text, out_features text)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY
        SELECT k.kind, k.value, p.id, p.merged_into_id, p.created_at, f.xmin::text, f.state::text
          FROM unnest(p_kinds, p_values) AS k(kind, value)
          CROSS JOIN LATERAL (SELECT i.profile_id FROM profiles_identifier AS i
                               WHERE i.workspace_id = p_workspace AND i.kind = k.kind
                                 AND i.value = k.value OFFSET 0) AS i
          JOIN profiles_profile AS p ON p.id = i.profile_id
          LEFT JOIN profiles_profilefeatures AS f ON f.profile_id = p.id AND p.merged_into_id IS NULL;
END $$;
"""

BACKWARD = f"""
DROP FUNCTION IF EXISTS profiles_identify_peek(uuid, text[], text[]);
DROP FUNCTION IF EXISTS profiles_identify_locked(uuid, bigint[], text[], text[], uuid[], text[]);
{_previous.FORWARD}
ALTER FUNCTION {OLD_SIGNATURE} SET plan_cache_mode = force_generic_plan;
"""


class Migration(migrations.Migration):
    dependencies = [("profiles", "0008_identify_locked_generic_plan")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
