"""``ENGINE = "core.postgresql"``: Django's PostgreSQL backend, except that the connection pool
checks connections with ``OPTIONS["pool_check"]`` when set (core/db_pool.py).

Django builds the pool with its own check (a round trip on every checkout when
``CONN_HEALTH_CHECKS`` is on) and refuses a ``check`` in ``OPTIONS["pool"]``; psycopg_pool has no
public way to change a pool's check once built, so this sets it as the pool is first made.
tests/core/test_db_pool.py holds it to that through the settings' own pool.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        params.pop("pool_check", None)  # ours, not a libpq option
        return params

    @property
    def pool(self) -> Any:
        pool = super().pool
        if pool is not None and not getattr(pool, "_cep_check_set", False):
            check = self.settings_dict["OPTIONS"].get("pool_check")
            if check is not None:
                pool._check = check
            pool._cep_check_set = True
        return pool
