from django.db import migrations


class Migration(migrations.Migration):
    """Feature rows are rewritten on every batch that touches the person:

    - fillfactor 70 leaves room in each page for the new row version beside the old one, so
      the update is HOT (no index write);
    - toast_tuple_target 8160 keeps rows of a few KB inline and uncompressed, instead of
      compressing ``state``/``computed`` with pglz on every write once a row passes 2 KB.
    """

    dependencies = [("profiles", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE profiles_profilefeatures SET (fillfactor = 70, toast_tuple_target = 8160)",
            "ALTER TABLE profiles_profilefeatures RESET (fillfactor, toast_tuple_target)",
        ),
    ]
