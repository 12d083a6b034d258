"""Alerts as JSON POSTs to a webhook, retried with backoff.

Each POST carries up to ``batch_size`` records as ``{"events": [...]}`` and an
``Idempotency-Key`` header naming the batch and part, so a receiver can drop a repeat (the IETF
httpapi draft "The Idempotency-Key HTTP Header Field"). A connection failure, a timeout, a 429 or
a 5xx answer is retried (``max_retries`` times, the wait doubling from ``backoff`` up to
``max_backoff``, or what ``Retry-After`` asks); any other 4xx is refused for good.

>>> sender = WebhookSender("http://127.0.0.1:9/hook")
>>> sender.host, sender.port, sender.path
('127.0.0.1', 9, '/hook')
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from escudo.errors import EscudoError
from escudo.outputs.base import http_url, json_default


class WebhookError(EscudoError):
    """The webhook did not take a POST (refused, or still failing after the retries)."""


class WebhookSender:
    """POSTs JSON to one URL (``http://`` or ``https://``)."""

    def __init__(
        self,
        url: str,
        *,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parts, host, port = http_url("--webhook-url", url, "http(s)://host[:port]/path")
        self.url = url
        self.scheme, self.host = parts.scheme, host
        self.port = port or (443 if parts.scheme == "https" else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        self.timeout = timeout
        self.headers = dict(headers or {})

    def post(self, records: Sequence[Mapping[str, Any]], key: str) -> None:
        """POST ``{"events": records}`` under idempotency key ``key``, retrying; raises
        :class:`WebhookError` when it is refused or the retries run out."""
        body = json.dumps({"events": list(records)}, default=json_default).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            **self.headers,
        }
        wait = self.backoff
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(wait)
                wait = min(wait * 2, self.max_backoff)
            try:
                status, retry_after = self._post(body, headers)
            except OSError as exc:  # refused, reset, timed out, TLS
                problem = str(exc.strerror or exc)
                continue
            if 200 <= status < 300:
                return
            problem = f"HTTP {status}"
            if status != 429 and status < 500:
                raise WebhookError(f"webhook {self.url} refused the alerts: {problem}")
            if retry_after is not None:
                wait = min(max(retry_after, 0.0), self.max_backoff)
        raise WebhookError(f"webhook {self.url}: {problem} after {self.max_retries + 1} attempts")

    def _post(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, float | None]:
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("POST", self.path, body=body, headers=dict(headers))
            response = conn.getresponse()
            response.read()
            retry = response.getheader("Retry-After")
            try:
                retry_after = float(retry) if retry is not None else None
            except ValueError:
                retry_after = None
            return response.status, retry_after
        finally:
            conn.close()
