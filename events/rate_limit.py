"""Per-write-key rate limit on tracking, counted in events, kept in Redis.

A fixed window of ``TRACKING_RATE_LIMIT_WINDOW_SECONDS`` allows
``TRACKING_RATE_LIMIT_PER_SECOND x window`` events, so a full 2,500-event batch fits while the
long-run rate stays at the configured events per second. A request whose events would
overflow the window is refused whole (nothing of it is counted) with the seconds left in the
window as ``Retry-After``. The first request in an empty window always passes, however big.
If Redis cannot be reached the limit fails open: losing events is worse than a burst.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

# Atomically: add ARGV[1] unless the window already holds events and would exceed ARGV[2].
_CONSUME = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
if current > 0 and current + amount > tonumber(ARGV[2]) then
  return -1
end
local total = redis.call('INCRBY', KEYS[1], amount)
if total == amount then
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
end
return total
"""

_clients_lock = threading.Lock()
_clients: dict[str, tuple[redis.Redis, Any]] = {}


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: int = 0
    limit: int = 0


def _script_for(url: str) -> Any:
    """One connection pool (and registered script) per Redis URL and process."""
    with _clients_lock:
        if url not in _clients:
            client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
            _clients[url] = (client, client.register_script(_CONSUME))
        return _clients[url][1]


def rate_limit_consume(*, write_key: str, events: int, now: float | None = None) -> RateDecision:
    per_second = int(getattr(settings, "TRACKING_RATE_LIMIT_PER_SECOND", 1000))
    if per_second <= 0:
        return RateDecision(allowed=True)
    window = max(1, int(getattr(settings, "TRACKING_RATE_LIMIT_WINDOW_SECONDS", 10)))
    limit = per_second * window
    now = time.time() if now is None else now
    slot = int(now // window)
    key_hash = hashlib.sha256(write_key.encode()).hexdigest()[:24]
    key = f"cep:ratelimit:tracking:{key_hash}:{slot}"
    try:
        script = _script_for(settings.REDIS_URL)
        result = int(script(keys=[key], args=[max(1, events), limit, window * 2]))
    except redis.RedisError:
        logger.warning("tracking rate limit unavailable (redis); allowing the request", exc_info=True)
        return RateDecision(allowed=True, limit=limit)
    if result >= 0:
        return RateDecision(allowed=True, limit=limit)
    retry_after = max(1, math.ceil((slot + 1) * window - now))
    return RateDecision(allowed=False, retry_after=retry_after, limit=limit)
