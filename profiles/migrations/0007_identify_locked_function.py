"""``profiles_identify_locked``: an ingest batch's identity locks, its profiles and their features
in one round trip (profiles/services.py, ``_identifiers_lock_profiles``).

In order, each step after the previous one's locks are granted:

1. ``pg_advisory_xact_lock`` on every identifier's key, in sorted order: writers that see the same
   new identifier are serialised;
2. the stored identifiers, one unique-index probe each (LATERAL, fenced by OFFSET 0), and their
   profiles locked ``FOR UPDATE`` in profile id order;
3. the features of the live profiles found.

This was three statements because each must see what was committed before its lock was granted,
and one statement's snapshot is taken before it waits. In a VOLATILE function every statement
gets a fresh snapshot, so the order of locks and reads is unchanged; PL/pgSQL also keeps the
plans for the session.
"""

from __future__ import annotations

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION profiles_identify_locked(
    p_workspace uuid, p_locks bigint[], p_kinds text[], p_values text[]
) RETURNS TABLE (out_kind text, out_value text, out_profile uuid, out_merged_into uuid,
                 out_created_at timestamptz, out_features jsonb)
LANGUAGE plpgsql VOLATILE AS $$
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
        SELECT u.kind, u.value, u.id, u.merged, u.created, f.state
          FROM unnest(v_kinds, v_values, v_ids, v_merged, v_created) AS u(kind, value, id, merged, created)
          LEFT JOIN profiles_profilefeatures AS f ON f.profile_id = u.id AND u.merged IS NULL;
END $$;
"""

BACKWARD = "DROP FUNCTION IF EXISTS profiles_identify_locked(uuid, bigint[], text[], text[]);"


class Migration(migrations.Migration):
    dependencies = [("profiles", "0006_leaner_identifier_indexes")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
