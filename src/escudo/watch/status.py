"""The status of ``escudo watch``: Prometheus text on a local port, and ``escudo status``.

The metrics follow Prometheus' text exposition format (version 0.0.4, "Exposition formats" in the
Prometheus docs): ``# HELP`` and ``# TYPE`` lines, then ``name value``.

>>> print(prometheus_text({"batches": 3, "events": 10, "errors": 0}).splitlines()[2])
escudo_watch_batches_total 3
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# status key -> (metric name, type, help)
METRICS: dict[str, tuple[str, str, str]] = {
    "batches": ("escudo_watch_batches_total", "counter", "Batches committed."),
    "events": ("escudo_watch_events_total", "counter", "Events read by committed batches."),
    "bytes": ("escudo_watch_bytes_total", "counter", "Bytes of lines in committed batches."),
    "results": ("escudo_watch_results_total", "counter", "Result rows of committed batches."),
    "errors": ("escudo_watch_errors_total", "counter", "Batches or reloads that failed."),
    "reloads": ("escudo_watch_reloads_total", "counter", "Content reloads (SIGHUP) done."),
    "events_per_second": (
        "escudo_watch_events_per_second",
        "gauge",
        "Events of the last batch over the time since the batch before.",
    ),
    "lag_seconds": (
        "escudo_watch_lag_seconds",
        "gauge",
        "Seconds from reading the last batch's lines to committing its alerts.",
    ),
    "last_batch": ("escudo_watch_last_batch", "gauge", "Id of the last committed batch."),
    "last_batch_at": (
        "escudo_watch_last_batch_timestamp_seconds",
        "gauge",
        "When the last batch committed (Unix time).",
    ),
    "last_batch_seconds": (
        "escudo_watch_last_batch_duration_seconds",
        "gauge",
        "How long the last batch took to run and deliver.",
    ),
}


def prometheus_text(status: Mapping[str, Any]) -> str:
    """The metrics of ``status`` (keys of :data:`METRICS`; missing or unset ones left out)."""
    lines = []
    for key, (name, kind, text) in METRICS.items():
        value = status.get(key)
        if value is None:
            continue
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name} {value}"]
    return "\n".join(lines) + "\n"


def summary(status: Mapping[str, Any], now: float | None = None) -> str:
    """What ``escudo status`` prints: one ``name: value`` line each."""
    now = time.time() if now is None else now
    at = status.get("last_batch_at")
    ago = f"{now - at:.1f}s ago" if at is not None else "never"
    lines = [
        f"last batch: {status.get('last_batch', 0)} ({ago}, "
        f"{status.get('last_batch_seconds', 0.0):.3f}s, {status.get('last_batch_events', 0)} events)",
        f"events/s: {status.get('events_per_second', 0.0):.1f}",
        f"lag: {status.get('lag_seconds', 0.0):.3f}s",
        f"batches: {status.get('batches', 0)}  events: {status.get('events', 0)}  "
        f"results: {status.get('results', 0)}",
        f"errors: {status.get('errors', 0)}",
    ]
    if status.get("last_error"):
        lines.append(f"last error: {status['last_error']}")
    return "\n".join(lines)


class StatusServer:
    """Serves ``GET /metrics`` on ``host:port`` from a thread (port 0: any free port)."""

    def __init__(self, status: Callable[[], Mapping[str, Any]], port: int, host: str = "127.0.0.1"):
        source = status

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] not in ("/metrics", "/"):
                    self.send_error(404)
                    return
                body = prometheus_text(source()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
