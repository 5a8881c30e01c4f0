"""The decision-arm totals' trigger (0007), cheaper on the decide path: a new decision has no
outcomes yet, so its insert skips the reward lookup, and a do-nothing decision (no chosen action,
which the totals never count) does not call the function at all (a WHEN clause, checked by the
executor). Updates and deletes keep the trigger as it was."""

from __future__ import annotations

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION insights_decision_arm() RETURNS trigger AS $$
DECLARE
    r float8 := 0;
    c boolean := false;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = NEW.status AND OLD.chosen_key = NEW.chosen_key
       AND OLD.policy_key = NEW.policy_key AND OLD.workspace_id = NEW.workspace_id THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN  -- outcomes point at a stored decision: an inserted one has none
        SELECT reward, converted INTO r, c FROM insights_decisionreward
            WHERE decision_id = COALESCE(NEW.id, OLD.id);
        r := COALESCE(r, 0);
        c := COALESCE(c, false);
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM insights_arm_add(OLD.workspace_id, OLD.chosen_key, OLD.policy_key, OLD.status, OLD.id,
                                 -1, -c::int, -r, -r * r);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM insights_arm_add(NEW.workspace_id, NEW.chosen_key, NEW.policy_key, NEW.status, NEW.id,
                                 1, c::int, r, r * r);
    ELSE
        DELETE FROM insights_decisionreward WHERE decision_id = OLD.id;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS insights_decision_arm ON decisions_decision;
CREATE TRIGGER insights_decision_arm_inserted AFTER INSERT ON decisions_decision
    FOR EACH ROW WHEN (NEW.chosen_key <> '') EXECUTE FUNCTION insights_decision_arm();
CREATE TRIGGER insights_decision_arm_changed AFTER UPDATE OR DELETE ON decisions_decision
    FOR EACH ROW EXECUTE FUNCTION insights_decision_arm();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS insights_decision_arm_inserted ON decisions_decision;
DROP TRIGGER IF EXISTS insights_decision_arm_changed ON decisions_decision;
CREATE TRIGGER insights_decision_arm AFTER INSERT OR UPDATE OR DELETE ON decisions_decision
    FOR EACH ROW EXECUTE FUNCTION insights_decision_arm();
"""


class Migration(migrations.Migration):
    dependencies = [("insights", "0009_rollup_triggers")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
