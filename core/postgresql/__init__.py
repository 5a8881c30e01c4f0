"""Django's PostgreSQL backend with the pool's health check of core/db_pool.py (``base.py``)."""
