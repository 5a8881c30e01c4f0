"""The storefront's side of the platform's public HTTP APIs: tracking with the write key
(``/v1/batch``), deciding and reporting outcomes with the secret key (``/v1/decide``,
``/v1/outcome``). Nothing else: the simulator never touches the database."""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests

BATCH_LIMIT = 500  # messages per /v1/batch body, well under the 2,500 and 500 KB limits
RETRIES = 3


class PlatformError(RuntimeError):
    """The platform answered something other than success (after retries for 5xx)."""

    def __init__(self, path: str, status: int, body: str) -> None:
        super().__init__(f"{path} answered {status}: {body[:300]}")
        self.path = path
        self.status = status


@dataclass
class Decided:
    decision_id: str
    status: str
    action: str | None  # the key of the action to show now, None for silence, holdout or approval
    channel: str
    latency_ms: float


class PlatformClient:
    """One HTTP session per thread (``requests.Session`` is not shared across threads)."""

    def __init__(self, *, url: str, write_key: str, secret_key: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        self._write = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
        self._secret = f"Bearer {secret_key}"
        self.requests = 0

    def close(self) -> None:
        self.http.close()

    def _post(self, path: str, body: Any, auth: str) -> Any:
        delay = 0.2
        for attempt in range(RETRIES + 1):
            self.requests += 1
            try:
                response = self.http.post(
                    self.url + path, json=body, headers={"Authorization": auth}, timeout=self.timeout
                )
            except requests.ConnectionError:
                if attempt == RETRIES:
                    raise
            else:
                if response.status_code < 500 or attempt == RETRIES:
                    if response.status_code >= 400:
                        raise PlatformError(path, response.status_code, response.text)
                    return response.json()
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def batch(self, messages: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(messages), BATCH_LIMIT):
            self._post("/v1/batch", {"batch": list(messages[start : start + BATCH_LIMIT])}, self._write)

    def decide(self, *, user_id: str, context: dict[str, Any]) -> Decided:
        answer = self._post("/v1/decide", {"person": {"userId": user_id}, "context": context}, self._secret)
        action = answer.get("action") or None
        shown = answer.get("status") in ("acted", "approved") and action is not None
        return Decided(
            decision_id=str(answer["decision_id"]),
            status=str(answer["status"]),
            action=str(action["key"]) if shown and action else None,
            channel=str(action.get("channel", "")) if shown and action else "",
            latency_ms=float(answer.get("latency_ms") or 0.0),
        )

    def outcome(self, *, decision_id: str, kind: str, ref: str, value: str | None = None) -> None:
        body: dict[str, Any] = {"decisionId": decision_id, "kind": kind, "id": ref}
        if value is not None:
            body["value"] = value
        self._post("/v1/outcome", body, self._secret)
