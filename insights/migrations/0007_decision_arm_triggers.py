"""Triggers that keep ``DecisionArm`` and ``DecisionReward`` exact on every write to the decision
log and its outcomes, then the totals of the decisions already stored.

- a decision with an action chosen inserted, updated (status, chosen action, policy) or deleted: its old arm loses it
  with its reward totals (from ``insights_decisionreward``), its new arm gains it;
- outcomes inserted, updated or deleted (statement-level, so one statement with several outcomes
  of a decision is one change): the decisions are locked in id order, their reward totals
  recomputed from their outcomes, and the difference added to their arm. The lock makes a
  concurrent outcome of the same decision wait and then see this one, so the sums of squares
  stay exact.
"""

from __future__ import annotations

from django.db import migrations

ARM = "CASE WHEN {status} IN ('acted', 'approved') THEN 'shown' WHEN {status} = 'held_out' THEN 'held_out' ELSE 'other' END"

FORWARD = f"""
CREATE OR REPLACE FUNCTION insights_arm_add(ws uuid, ckey text, pkey text, status text, did uuid,
                                            n bigint, conv bigint, r float8, sq float8) RETURNS void AS $$
BEGIN
    IF ckey = '' THEN
        RETURN;
    END IF;
    INSERT INTO insights_decisionarm AS t
        (workspace_id, chosen_key, policy_key, arm, shard, decisions, conversions, reward_sum, reward_squares)
    VALUES (ws, ckey, pkey, {ARM.format(status="status")}, hashtext(did::text) & 15, n, conv, r, sq)
    ON CONFLICT (workspace_id, chosen_key, policy_key, arm, shard) DO UPDATE SET
        decisions = t.decisions + EXCLUDED.decisions, conversions = t.conversions + EXCLUDED.conversions,
        reward_sum = t.reward_sum + EXCLUDED.reward_sum, reward_squares = t.reward_squares + EXCLUDED.reward_squares;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION insights_decision_arm() RETURNS trigger AS $$
DECLARE
    r float8 := 0;
    c boolean := false;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = NEW.status AND OLD.chosen_key = NEW.chosen_key
       AND OLD.policy_key = NEW.policy_key AND OLD.workspace_id = NEW.workspace_id THEN
        RETURN NULL;
    END IF;
    SELECT reward, converted INTO r, c FROM insights_decisionreward
        WHERE decision_id = COALESCE(NEW.id, OLD.id);
    r := COALESCE(r, 0);
    c := COALESCE(c, false);
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

CREATE OR REPLACE FUNCTION insights_outcomes_changed(ids uuid[]) RETURNS void AS $$
DECLARE
    d record;
BEGIN
    PERFORM 1 FROM decisions_decision WHERE id = ANY(ids) ORDER BY id FOR UPDATE;
    FOR d IN
        SELECT dd.id, dd.workspace_id, dd.chosen_key, dd.policy_key, dd.status,
               COALESCE(o.reward, 0) AS r1, COALESCE(o.converted, false) AS c1,
               COALESCE(s.reward, 0) AS r0, COALESCE(s.converted, false) AS c0, s.decision_id IS NOT NULL AS stored
        FROM decisions_decision dd
        LEFT JOIN (SELECT decision_id, SUM(reward) AS reward, BOOL_OR(kind = 'converted') AS converted
                   FROM decisions_outcome WHERE decision_id = ANY(ids) GROUP BY decision_id) o ON o.decision_id = dd.id
        LEFT JOIN insights_decisionreward s ON s.decision_id = dd.id
        WHERE dd.id = ANY(ids)
    LOOP
        PERFORM insights_arm_add(d.workspace_id, d.chosen_key, d.policy_key, d.status, d.id,
                                 0, d.c1::int - d.c0::int, d.r1 - d.r0, d.r1 * d.r1 - d.r0 * d.r0);
        IF EXISTS (SELECT 1 FROM decisions_outcome WHERE decision_id = d.id) THEN
            INSERT INTO insights_decisionreward (decision_id, reward, converted) VALUES (d.id, d.r1, d.c1)
            ON CONFLICT (decision_id) DO UPDATE SET reward = EXCLUDED.reward, converted = EXCLUDED.converted;
        ELSIF d.stored THEN
            DELETE FROM insights_decisionreward WHERE decision_id = d.id;
        END IF;
    END LOOP;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION insights_outcome_inserted() RETURNS trigger AS $$
BEGIN
    PERFORM insights_outcomes_changed(ARRAY(SELECT DISTINCT decision_id FROM new_rows));
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION insights_outcome_updated() RETURNS trigger AS $$
BEGIN
    PERFORM insights_outcomes_changed(ARRAY(
        SELECT decision_id FROM new_rows UNION SELECT decision_id FROM old_rows));
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION insights_outcome_deleted() RETURNS trigger AS $$
BEGIN
    PERFORM insights_outcomes_changed(ARRAY(SELECT DISTINCT decision_id FROM old_rows));
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER insights_decision_arm AFTER INSERT OR UPDATE OR DELETE ON decisions_decision
    FOR EACH ROW EXECUTE FUNCTION insights_decision_arm();
CREATE TRIGGER insights_outcome_inserted AFTER INSERT ON decisions_outcome
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION insights_outcome_inserted();
CREATE TRIGGER insights_outcome_updated AFTER UPDATE ON decisions_outcome
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION insights_outcome_updated();
CREATE TRIGGER insights_outcome_deleted AFTER DELETE ON decisions_outcome
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION insights_outcome_deleted();

-- The decisions already stored (taken under a share lock so no write slips between the two).
LOCK TABLE decisions_decision, decisions_outcome IN SHARE MODE;
DELETE FROM insights_decisionreward;
DELETE FROM insights_decisionarm;
INSERT INTO insights_decisionreward (decision_id, reward, converted)
    SELECT decision_id, SUM(reward), BOOL_OR(kind = 'converted') FROM decisions_outcome GROUP BY decision_id;
INSERT INTO insights_decisionarm
    (workspace_id, chosen_key, policy_key, arm, shard, decisions, conversions, reward_sum, reward_squares)
    SELECT d.workspace_id, d.chosen_key, d.policy_key, {ARM.format(status="d.status")}, hashtext(d.id::text) & 15,
           COUNT(*), SUM(COALESCE(s.converted, false)::int), SUM(COALESCE(s.reward, 0)),
           SUM(COALESCE(s.reward, 0) * COALESCE(s.reward, 0))
    FROM decisions_decision d LEFT JOIN insights_decisionreward s ON s.decision_id = d.id
    WHERE d.chosen_key <> ''
    GROUP BY 1, 2, 3, 4, 5;
"""

BACKWARD = """
DROP TRIGGER IF EXISTS insights_decision_arm ON decisions_decision;
DROP TRIGGER IF EXISTS insights_outcome_inserted ON decisions_outcome;
DROP TRIGGER IF EXISTS insights_outcome_updated ON decisions_outcome;
DROP TRIGGER IF EXISTS insights_outcome_deleted ON decisions_outcome;
DROP FUNCTION IF EXISTS insights_decision_arm();
DROP FUNCTION IF EXISTS insights_outcome_inserted();
DROP FUNCTION IF EXISTS insights_outcome_updated();
DROP FUNCTION IF EXISTS insights_outcome_deleted();
DROP FUNCTION IF EXISTS insights_outcomes_changed(uuid[]);
DROP FUNCTION IF EXISTS insights_arm_add(uuid, text, text, text, uuid, bigint, bigint, float8, float8);
"""


class Migration(migrations.Migration):
    dependencies = [("insights", "0006_decision_arms"), ("decisions", "0002_approvalcategory_approvalreview")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
