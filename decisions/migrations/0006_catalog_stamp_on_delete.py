"""The catalog stamp's trigger (0005) no longer inserts a stamp row when a catalog row is deleted:
deleting a workspace cascades to its actions, and a row inserted for the workspace being deleted
broke the foreign key at commit. A delete now only bumps an existing row. That is enough: every
workspace with catalog rows has a stamp row, because inserting or updating one creates it and the
workspaces that had catalog rows before 0005 get theirs here."""

from __future__ import annotations

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION decisions_catalog_touched() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE decisions_catalogstamp SET version = version + 1 WHERE workspace_id = OLD.workspace_id;
        RETURN NULL;
    END IF;
    INSERT INTO decisions_catalogstamp AS s (workspace_id, version) VALUES (NEW.workspace_id, 1)
        ON CONFLICT (workspace_id) DO UPDATE SET version = s.version + 1;
    IF TG_OP = 'UPDATE' AND NEW.workspace_id <> OLD.workspace_id THEN
        UPDATE decisions_catalogstamp SET version = version + 1 WHERE workspace_id = OLD.workspace_id;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

INSERT INTO decisions_catalogstamp (workspace_id, version)
    SELECT id, 1 FROM accounts_workspace w
    WHERE EXISTS (SELECT 1 FROM decisions_action a WHERE a.workspace_id = w.id)
       OR EXISTS (SELECT 1 FROM decisions_policy p WHERE p.workspace_id = w.id)
       OR EXISTS (SELECT 1 FROM decisions_guardrailconfig g WHERE g.workspace_id = w.id)
    ON CONFLICT (workspace_id) DO NOTHING;
"""


class Migration(migrations.Migration):
    dependencies = [("decisions", "0005_catalog_stamp")]

    operations = [migrations.RunSQL(FORWARD, migrations.RunSQL.noop)]
