"""The customer search's word-prefix index (docs/console.md, "Customers").

Two functions split text the same way for the index and for the query: lower-cased, words at
anything that is not a letter or digit, each word cut to its first 20 characters
(``profiles.models.SEARCH_PREFIX_MAX``). ``profile_search_prefixes(traits)`` is every prefix of
every word of the email and name traits; ``profile_search_terms(query)`` the words of a query. A
GIN index over the first finds the people whose words start with every word
typed: ``profile_search_prefixes(traits) @> profile_search_terms(query)``. The embedded PostgreSQL
has no pg_trgm; array GIN indexes are built in. ANALYZE at the end gives the planner the
statistics of the new index's values (how common a prefix is decides index or recent-first scan);
it reads them only from an index that is not partial, so merged-away profiles are in it too.
Computing one profile's prefixes takes some 20 microseconds (PL/pgSQL: faster here than SQL with
set-returning functions): its COST says so, or the planner would rather walk the newest profiles
computing them than read the index; and PARALLEL RESTRICTED (it would be safe) keeps that walk
from being split across parallel workers, which on a page request only adds their start-up and
makes the walk look cheaper than the index. A repeated word is harmless: the index keeps each
value once.
"""

from __future__ import annotations

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
from django.db import migrations, models

FUNCTIONS = """
CREATE OR REPLACE FUNCTION profile_search_prefixes(traits jsonb) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL RESTRICTED COST 2000 AS $$
DECLARE
    prefixes text[] := '{}';
    word text;
BEGIN
    FOREACH word IN ARRAY regexp_split_to_array(lower(
        coalesce(traits->>'email', '') || ' ' || coalesce(traits->>'name', '') || ' '
        || coalesce(traits->>'first_name', '') || ' ' || coalesce(traits->>'last_name', '')
    ), '[^[:alnum:]]+') LOOP
        FOR n IN 1..least(length(word), 20) LOOP
            prefixes := prefixes || left(word, n);
        END LOOP;
    END LOOP;
    RETURN prefixes;
END $$;

CREATE OR REPLACE FUNCTION profile_search_terms(query text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT COALESCE(array_agg(DISTINCT left(w, 20)), '{}')
    FROM regexp_split_to_table(lower(query), '[^[:alnum:]]+') AS w
    WHERE w <> ''
$$;
"""

DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS profile_search_prefixes(jsonb);
DROP FUNCTION IF EXISTS profile_search_terms(text);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("profiles", "0004_suppressedidentifier"),
    ]

    operations = [
        migrations.RunSQL(FUNCTIONS, DROP_FUNCTIONS),
        migrations.AddIndex(
            model_name="profile",
            index=django.contrib.postgres.indexes.GinIndex(
                models.Func(
                    models.F("traits"),
                    function="profile_search_prefixes",
                    output_field=django.contrib.postgres.fields.ArrayField(base_field=models.TextField(), size=None),
                ),
                name="profile_search",
            ),
        ),
        migrations.RunSQL("ANALYZE profiles_profile", migrations.RunSQL.noop),
    ]
