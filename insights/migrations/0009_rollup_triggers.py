"""Triggers that feed the page's new rollups (``insights.models``), an index for the latency
percentiles, then the rollups of what is already stored.

- ``insights_personweek``: every inserted or deleted row is appended to
  ``insights_personweekchange`` (statement-level, with transition tables), which
  ``insights.services.cohort_pairs_compact`` folds into ``insights_cohortpair``. Rows are upserted
  (``last_at`` moves) and deleted but their key never changes; an update that would move one is
  refused, since the pair counts would not follow it.
- ``decisions_decision``: every insert and delete of a decision that is not a dry run, and every
  update that changes what the allocation and latency charts count (workspace, time, action,
  latency, or whether it is a dry run), appends a signed row to ``insights_decisionchange``, which
  ``insights.services.decision_counts_compact`` folds into ``insights_decisioncount`` and
  ``insights_latencycount``. Appending takes no lock that another decision waits for.
- ``insights_decision_latency`` on the decision log: a window's decisions of one whole
  millisecond of latency, in latency order, for the exact percentiles.

The backfills run under a share lock of their source table, so no write slips between a
trigger's creation and the totals of what was there before.
"""

from __future__ import annotations

from django.db import migrations

# One stored profile's active weeks -> pairs (first_week, week, gap) with week - first_week <= 91
# days; gap: weeks back to the previous active week, 0 beyond 13 (see insights.models.CohortPair).
GAP = "CASE WHEN a.week - a.prev <= 91 THEN (a.week - a.prev) / 7 ELSE 0 END"

FORWARD = f"""
CREATE OR REPLACE FUNCTION insights_weeks_inserted() RETURNS trigger AS $$
BEGIN
    INSERT INTO insights_personweekchange (workspace_id, profile_id, week, added)
        SELECT workspace_id, profile_id, week, true FROM new_rows ORDER BY id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION insights_weeks_deleted() RETURNS trigger AS $$
BEGIN
    INSERT INTO insights_personweekchange (workspace_id, profile_id, week, added)
        SELECT workspace_id, profile_id, week, false FROM old_rows ORDER BY id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION insights_week_key_fixed() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'insights_personweek rows are inserted and deleted, never moved (the cohort pairs follow them)';
END $$ LANGUAGE plpgsql;

CREATE TRIGGER insights_weeks_inserted AFTER INSERT ON insights_personweek
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION insights_weeks_inserted();
CREATE TRIGGER insights_weeks_deleted AFTER DELETE ON insights_personweek
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION insights_weeks_deleted();
CREATE TRIGGER insights_week_key_fixed BEFORE UPDATE ON insights_personweek FOR EACH ROW
    WHEN (OLD.workspace_id <> NEW.workspace_id OR OLD.profile_id <> NEW.profile_id OR OLD.week <> NEW.week)
    EXECUTE FUNCTION insights_week_key_fixed();

CREATE OR REPLACE FUNCTION insights_decision_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status <> 'dry_run' THEN
        INSERT INTO insights_decisionchange (workspace_id, created_at, chosen_key, latency_ms, sign)
            VALUES (OLD.workspace_id, OLD.created_at, OLD.chosen_key, OLD.latency_ms, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status <> 'dry_run' THEN
        INSERT INTO insights_decisionchange (workspace_id, created_at, chosen_key, latency_ms, sign)
            VALUES (NEW.workspace_id, NEW.created_at, NEW.chosen_key, NEW.latency_ms, 1);
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER insights_decision_counted AFTER INSERT OR DELETE ON decisions_decision
    FOR EACH ROW EXECUTE FUNCTION insights_decision_changed();
CREATE TRIGGER insights_decision_recounted AFTER UPDATE ON decisions_decision FOR EACH ROW
    WHEN (OLD.workspace_id <> NEW.workspace_id OR OLD.created_at <> NEW.created_at
          OR OLD.chosen_key <> NEW.chosen_key OR OLD.latency_ms IS DISTINCT FROM NEW.latency_ms
          OR (OLD.status = 'dry_run') <> (NEW.status = 'dry_run'))
    EXECUTE FUNCTION insights_decision_changed();

CREATE INDEX IF NOT EXISTS insights_decision_latency ON decisions_decision
    (workspace_id, floor(latency_ms), created_at) INCLUDE (latency_ms, status);

LOCK TABLE insights_personweek, decisions_decision IN SHARE MODE;
DELETE FROM insights_personweekchange;
DELETE FROM insights_cohortpair;
INSERT INTO insights_cohortpair (workspace_id, first_week, week, gap, people)
    SELECT a.workspace_id, a.week, b.week, {GAP}, COUNT(*)
    FROM (SELECT workspace_id, profile_id, week,
                 LAG(week) OVER (PARTITION BY workspace_id, profile_id ORDER BY week) AS prev
          FROM insights_personweek) a
    JOIN insights_personweek b ON b.workspace_id = a.workspace_id AND b.profile_id = a.profile_id
         AND b.week BETWEEN a.week AND a.week + 91
    GROUP BY 1, 2, 3, 4;

DELETE FROM insights_decisionchange;
DELETE FROM insights_decisioncount;
DELETE FROM insights_latencycount;
INSERT INTO insights_decisioncount (workspace_id, period, start, chosen_key, decisions)
    SELECT d.workspace_id, p.period, date_trunc(p.period, d.created_at, 'UTC'), d.chosen_key, COUNT(*)
    FROM decisions_decision d CROSS JOIN (VALUES ('hour'), ('day')) AS p(period)
    WHERE d.status <> 'dry_run' GROUP BY 1, 2, 3, 4;
INSERT INTO insights_latencycount (workspace_id, period, start, ms, decisions)
    SELECT d.workspace_id, p.period, date_trunc(p.period, d.created_at, 'UTC'),
           GREATEST(LEAST(floor(d.latency_ms), 2000000000), -2000000000)::int, COUNT(*)
    FROM decisions_decision d CROSS JOIN (VALUES ('hour'), ('day')) AS p(period)
    WHERE d.status <> 'dry_run' GROUP BY 1, 2, 3, 4;
"""

BACKWARD = """
DROP TRIGGER IF EXISTS insights_weeks_inserted ON insights_personweek;
DROP TRIGGER IF EXISTS insights_weeks_deleted ON insights_personweek;
DROP TRIGGER IF EXISTS insights_week_key_fixed ON insights_personweek;
DROP TRIGGER IF EXISTS insights_decision_counted ON decisions_decision;
DROP TRIGGER IF EXISTS insights_decision_recounted ON decisions_decision;
DROP FUNCTION IF EXISTS insights_weeks_inserted();
DROP FUNCTION IF EXISTS insights_weeks_deleted();
DROP FUNCTION IF EXISTS insights_week_key_fixed();
DROP FUNCTION IF EXISTS insights_decision_changed();
DROP INDEX IF EXISTS insights_decision_latency;
"""


class Migration(migrations.Migration):
    dependencies = [("insights", "0008_rollups_for_the_page"), ("decisions", "0003_decision_window_cover")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
