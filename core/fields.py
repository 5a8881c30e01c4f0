"""Model fields shared by the apps."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.fields.json import KeyTransform
from psycopg.types.json import Json

from core import fastjson


class JSONTextField(models.JSONField):
    """A ``JSONField`` kept in PostgreSQL's ``json`` type (the validated text) instead of ``jsonb``.

    For documents the platform rewrites whole on every write and reads whole, such as a person's
    real-time features: ``json`` costs a validation pass where ``jsonb`` builds and later prints a
    binary tree, several times the work for a 1 KB document (the features upsert holds the
    identity locks while PostgreSQL does it). The price: no ``jsonb`` operators (``@>``, ``?``,
    GIN indexes) and no equality on the column. ``->`` and ``->>`` work, parsing the text each time.
    """

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        return "json"

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Any:
        # psycopg parses json itself (Django only hands jsonb back as text), key transforms
        # included; the bulk cursors (profiles/sql.py) hand it back as text.
        if isinstance(value, str) and not isinstance(expression, KeyTransform):
            return fastjson.loads(value)
        return value

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if hasattr(value, "as_sql"):
            return value
        return Json(value, dumps=fastjson.dumps)
