"""``decisions_person_state``: the person's decision lock and everything a decision reads about
them, in one round trip (decisions/snapshots.py, ``person_state_load``).

The lock has to be granted before the state is read, or two concurrent decisions for one person
could both count contacts under the cap. A single statement cannot do that (its snapshot is taken
before it waits for the lock); a VOLATILE function can: each statement in it gets a fresh
snapshot, so the RETURN QUERY sees every decision committed before the lock was granted.
PL/pgSQL also keeps the query's plan for the session.
"""

from __future__ import annotations

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION decisions_person_state(
    p_lock bigint, p_workspace uuid, p_profile uuid, p_policy_key text,
    p_week timestamptz, p_now timestamptz, p_acted text[], p_channels text[]
) RETURNS TABLE (features jsonb, scores json, arms json, contacts json, suppressions json, stamp text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock);
    RETURN QUERY SELECT
        (SELECT f.state FROM profiles_profilefeatures f WHERE f.profile_id = p_profile),
        (SELECT coalesce(json_agg(json_build_array(s.kind, s.value, s.explanation, s.model_version_id)), '[]'::json)
           FROM scoring_profilescore s
          WHERE s.workspace_id = p_workspace AND s.profile_id = p_profile AND s.action = ''),
        (SELECT coalesce(json_object_agg(b.action_key, b.state), '{}'::json)
           FROM decisions_banditarm b
          WHERE b.workspace_id = p_workspace AND b.policy_key = p_policy_key),
        (SELECT coalesce(json_agg(json_build_array(d.channel, d.created_at) ORDER BY d.created_at), '[]'::json)
           FROM decisions_decision d
          WHERE d.workspace_id = p_workspace AND d.profile_id = p_profile AND d.created_at >= p_week
            AND d.status = ANY(p_acted) AND d.channel = ANY(p_channels)),
        (SELECT coalesce(json_agg(json_build_array(w.reason, w.until, w.kinds, w.channels) ORDER BY w.until), '[]'::json)
           FROM decisions_suppressionwindow w
          WHERE w.workspace_id = p_workspace AND w.profile_id = p_profile AND w.until > p_now),
        coalesce((SELECT 'v' || s.version FROM decisions_catalogstamp s WHERE s.workspace_id = p_workspace), 'v0');
END $$;
"""

BACKWARD = """
DROP FUNCTION IF EXISTS decisions_person_state(bigint, uuid, uuid, text, timestamptz, timestamptz, text[], text[]);
"""


class Migration(migrations.Migration):
    dependencies = [("decisions", "0006_catalog_stamp_on_delete")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
