"""Ticket priority: how much is at risk and how frustrated the person is, against the clock.

Points out of 100, each signal with a sentence an agent understands (docs/support.md):

=====================  ======  ===========================================================
signal                 points  source
=====================  ======  ===========================================================
value at risk (CLV)    0-30    the person's CLV percentile among scored people in the workspace
churn risk             0-20    churn score (0-1) x 20
payment failures       0-20    payment failures in the last 10 min (8 each) or 24 h (4 each)
repeated errors        0-10    error events in the last hour, from the second one (4 each)
negative tone          0-10    the ticket text classified negative (support/sentiment.py)
waiting against SLA    0-20    share of the SLA window used; 20 once breached
=====================  ======  ===========================================================

The first five make the *base* priority, which picks the SLA policy; waiting time is added on
top and grows as the due time approaches, so re-prioritizing an old ticket moves it up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings

PAYMENT_EVENTS = ("payment_failed", "Payment Failed", "Checkout Payment Failed")
ERROR_EVENTS = ("error", "Error", "Error Shown", "App Error", "checkout_error")
PAYMENT_RECENT = timedelta(minutes=10)
PAYMENT_DAY = timedelta(hours=24)
ERRORS_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Signals:
    """Everything the score reads about one ticket's person, gathered by the service."""

    clv: float | None = None
    clv_percentile: float | None = None  # share of scored people with a lower CLV, 0-1
    churn: float | None = None
    payment_failures_recent: int = 0
    payment_failures_day: int = 0
    errors_hour: int = 0
    negative_tone: bool = False


@dataclass(frozen=True)
class Priority:
    base: int
    total: int
    reasons: list[dict[str, Any]] = field(default_factory=list)

    @property
    def explanation(self) -> str:
        # Value and the clock are always worth saying; other signals only when they weigh something.
        texts = [r["text"] for r in self.reasons if r["points"] > 0 or r["signal"] in ("clv", "sla")]
        return ", ".join(texts) if texts else "no risk signals"


def currency() -> str:
    return str(getattr(settings, "SUPPORT_CURRENCY", "EUR"))


def money(amount: float) -> str:
    value = Decimal(str(amount)).quantize(Decimal("1"))
    return f"{currency()} {value:,}"


def _clv_reason(signals: Signals) -> dict[str, Any] | None:
    if signals.clv is None or signals.clv_percentile is None:
        return None
    points = round(30 * signals.clv_percentile**2)  # value at risk matters most at the top
    top = max(1, round((1 - signals.clv_percentile) * 100))
    amount = money(signals.clv)
    text = f"CLV top {top}% ({amount})" if top <= 50 else f"CLV {amount}, below the median"
    return {"signal": "clv", "points": points, "text": text}


def _minutes(delta: timedelta) -> str:
    minutes = int(abs(delta.total_seconds()) // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def sla_reason(*, due: datetime | None, window: timedelta | None, now: datetime) -> dict[str, Any] | None:
    if due is None or window is None or window.total_seconds() <= 0:
        return None
    left = due - now
    if left.total_seconds() <= 0:
        return {"signal": "sla", "points": 20, "text": f"SLA breached {_minutes(left)} ago", "breached": True}
    used = 1 - left / window
    points = round(20 * max(0.0, min(1.0, used)))
    return {"signal": "sla", "points": points, "text": f"SLA due in {_minutes(left)}", "breached": False}


def base_reasons(signals: Signals) -> list[dict[str, Any]]:
    reasons: list[dict[str, Any]] = []
    clv = _clv_reason(signals)
    if clv:
        reasons.append(clv)
    if signals.churn is not None:
        reasons.append(
            {
                "signal": "churn",
                "points": round(20 * signals.churn),
                "text": f"churn risk {round(signals.churn * 100)}%",
            }
        )
    if signals.payment_failures_recent:
        n = signals.payment_failures_recent
        reasons.append(
            {
                "signal": "payments",
                "points": min(20, 8 * n),
                "text": f"{n} payment failure{'s' if n != 1 else ''} in 10 min",
            }
        )
    elif signals.payment_failures_day:
        n = signals.payment_failures_day
        reasons.append(
            {
                "signal": "payments",
                "points": min(20, 4 * n),
                "text": f"{n} payment failure{'s' if n != 1 else ''} in 24 h",
            }
        )
    if signals.errors_hour >= 2:
        n = signals.errors_hour
        reasons.append({"signal": "errors", "points": min(10, 4 * (n - 1)), "text": f"{n} errors in the last hour"})
    if signals.negative_tone:
        reasons.append({"signal": "tone", "points": 10, "text": "negative tone"})
    return reasons


def priority_compute(
    *, signals: Signals, sla_due: datetime | None, sla_window: timedelta | None, now: datetime
) -> Priority:
    reasons = base_reasons(signals)
    base = min(100, sum(r["points"] for r in reasons))
    sla = sla_reason(due=sla_due, window=sla_window, now=now)
    if sla:
        reasons.append(sla)
    total = min(100, sum(r["points"] for r in reasons))
    reasons.sort(key=lambda r: (-r["points"], r["signal"]))
    return Priority(base=base, total=total, reasons=reasons)


def base_priority(signals: Signals) -> int:
    return min(100, sum(r["points"] for r in base_reasons(signals)))


def event_counts(rows: Sequence[tuple[str, datetime]], *, now: datetime) -> tuple[int, int, int]:
    """(payment failures in 10 min, in 24 h, errors in 1 h) from (name, time) rows of the last day."""
    recent = sum(1 for name, at in rows if name in PAYMENT_EVENTS and at >= now - PAYMENT_RECENT)
    day = sum(1 for name, at in rows if name in PAYMENT_EVENTS and at >= now - PAYMENT_DAY)
    errors = sum(1 for name, at in rows if name in ERROR_EVENTS and at >= now - ERRORS_WINDOW)
    return recent, day, errors
