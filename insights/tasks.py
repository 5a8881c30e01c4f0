"""Beat tasks that keep the insights page's rollups current (thin: they call the services)."""

from __future__ import annotations

from celery import shared_task

from insights.services import rfm_snapshots_refresh, rollups_compact


@shared_task(name="insights.rollups_compact_task")
def rollups_compact_task() -> dict[str, int]:
    """Fold the decision and person-week change logs into the running counts."""
    return rollups_compact()


@shared_task(name="insights.rfm_snapshots_refresh_task")
def rfm_snapshots_refresh_task() -> int:
    """Re-rank the customers of every workspace for the RFM grid."""
    return rfm_snapshots_refresh()
