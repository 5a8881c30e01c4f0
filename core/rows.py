"""Model instances from raw rows, for the hot paths that read several tables in one statement.

``select_list(Model, "alias")`` renders the model's concrete columns for a SELECT and
``from_row(Model, values)`` turns the matching slice of a fetched row back into an instance, with
each field's own conversion from the database (JSON text to Python for JSONField, for one), as the
ORM's ``from_db`` path would. Callers keep the column order: ``len(Model._meta.concrete_fields)``
values per model, in field order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)
_plans: dict[type[Model], list[tuple[Field[Any, Any], list[Callable[..., Any]]]]] = {}


def select_list(model: type[Model], alias: str) -> str:
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


def width(model: type[Model]) -> int:
    return len(model._meta.concrete_fields)


def from_row(model: type[M], values: Sequence[Any]) -> M:
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the ``connection`` proxy costs a lookup per use
    plan = _plans.get(model)
    if plan is None:
        plan = []
        for field in model._meta.concrete_fields:
            column = field.get_col(model._meta.db_table)  # converters as the ORM's compiler finds them
            plan.append((field, [*db.ops.get_db_converters(column), *column.get_db_converters(db)]))
        _plans[model] = plan
    converted = []
    for (field, converters), raw in zip(plan, values, strict=True):
        value = raw
        for converter in converters:
            value = converter(value, field, db)
        converted.append(value)
    return model.from_db(db.alias, [field.attname for field, _ in plan], converted)
