"""Watch outputs against real receivers: a webhook (http.server), syslog over TCP and UDP
(sockets), each batch delivered once even when it is repeated after a crash."""

from __future__ import annotations

import json
import re
import socket
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from watch_helpers import NGROK, TailFile, log_part

from escudo._session import HuntRun, Session
from escudo.outputs.syslog import SyslogSender
from escudo.outputs.webhook import WebhookError, WebhookSender
from escudo.watch.loop import Runner, WatchLoop
from escudo.watch.outputs import SyslogOutput, WebhookOutput
from escudo.watch.state import StateDir
from escudo.watch.status import StatusServer

RFC5424 = re.compile(
    rb"^<132>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S+ escudo \d+ alert "
    rb'\[escudo@32473 id="([^"]+)"\] (\{.*\})$'
)


class Hook:
    """A webhook receiver answering ``fail_first`` POSTs with ``status``, then 200."""

    def __init__(self, fail_first: int = 0, status: int = 503) -> None:
        self.fail_first, self.status = fail_first, status
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.attempts = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.attempts += 1
                if hook.attempts <= hook.fail_first:
                    self.send_response(hook.status)
                else:
                    hook.posts.append((self.headers["Idempotency-Key"], json.loads(body)))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook(fail_first=2)
    yield server
    server.close()


class Crash(Exception):
    pass


def loop_with(tmp_path: Path, output: Any) -> WatchLoop:
    log = tmp_path / "app.log"
    if not log.exists():
        log.write_bytes(log_part(0) + log_part(1))
    runner = Runner(lambda: Session(detections=[NGROK]))
    return WatchLoop([TailFile(log)], runner, [output], StateDir(tmp_path / "state"))


def expected_rows(tmp_path: Path) -> int:
    return Session(detections=[NGROK]).hunt([tmp_path / "app.log"]).tables[NGROK].num_rows


def test_webhook_retries_until_taken_and_a_repeat_posts_nothing(tmp_path: Path, hook: Hook) -> None:
    class CrashAfter(WebhookOutput):
        def deliver(self, batch: int, run: HuntRun) -> None:
            super().deliver(batch, run)
            raise Crash

    sender = WebhookSender(hook.url, backoff=0.01)
    log = tmp_path / "state" / "delivery" / "hook.log"
    first = loop_with(tmp_path, CrashAfter(sender, "results", log, part_size=3))
    first.start()
    with pytest.raises(Crash):
        first.step()
    first.close()
    assert hook.attempts == 2 + len(hook.posts)  # two 503s, retried
    posted = len(hook.posts)
    second = loop_with(tmp_path, WebhookOutput(sender, "results", log, part_size=3))
    second.start()
    assert second.step()  # the same batch again: every part is in the delivery log
    second.close()
    assert len(hook.posts) == posted
    events = [e for _, body in hook.posts for e in body["events"]]
    assert len(events) == expected_rows(tmp_path)
    assert {e["detection"] for e in events} == {NGROK}
    assert len({key for key, _ in hook.posts}) == len(hook.posts)


def test_webhook_refusal_is_an_error_without_retries(hook: Hook) -> None:
    hook.fail_first, hook.status = 1, 400
    with pytest.raises(WebhookError, match="HTTP 400"):
        WebhookSender(hook.url, backoff=0.01).post([{"a": 1}], "k")
    assert hook.attempts == 1


def _tcp_receiver() -> tuple[socket.socket, list[bytes], threading.Thread]:
    server = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            data = b""
            with conn:
                while chunk := conn.recv(65536):
                    data += chunk
            while data:  # RFC 6587 octet counting: LEN SP MSG
                length, _, rest = data.partition(b" ")
                received.append(rest[: int(length)])
                data = rest[int(length) :]

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server, received, thread


def test_syslog_tcp_sends_rfc5424_once_per_row_across_a_crash(tmp_path: Path) -> None:
    class CrashAfter(SyslogOutput):
        def deliver(self, batch: int, run: HuntRun) -> None:
            super().deliver(batch, run)
            self.sender.close()
            raise Crash

    server, received, thread = _tcp_receiver()
    url = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    log = tmp_path / "state" / "delivery" / "syslog.log"
    first = loop_with(tmp_path, CrashAfter(SyslogSender(url), "results", log))
    first.start()
    with pytest.raises(Crash):
        first.step()
    first.close()
    second = loop_with(tmp_path, SyslogOutput(SyslogSender(url), "results", log))
    second.start()
    assert second.step()
    second.close()
    server.close()
    thread.join(5)
    parsed = [RFC5424.match(m) for m in received]
    assert all(parsed), received[:1]
    rows = [json.loads(m.group(2)) for m in parsed if m]
    assert len(rows) == expected_rows(tmp_path)  # the repeat sent nothing
    assert len({m.group(1) for m in parsed if m}) == len(rows)
    assert {r["detection"] for r in rows} == {NGROK}


def test_syslog_udp_one_datagram_per_message() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(10)
    sender = SyslogSender(f"udp://127.0.0.1:{receiver.getsockname()[1]}")
    from escudo.outputs.syslog import format_message

    sender.send(format_message({"detection": "D"}, "1-ab-0"))
    datagram = receiver.recv(65536)
    sender.close()
    receiver.close()
    match = RFC5424.match(datagram)
    assert match and json.loads(match.group(2)) == {"detection": "D"}


def test_status_is_prometheus_text_on_a_local_port(tmp_path: Path) -> None:
    loop = loop_with(
        tmp_path, WebhookOutput(WebhookSender("http://127.0.0.1:9/"), "risk", tmp_path / "l")
    )
    loop.outputs = []
    loop.start()
    loop.step()
    server = StatusServer(loop.status.to_json, 0)
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as r:
            text = r.read().decode()
            kind = r.headers["Content-Type"]
    finally:
        server.close()
        loop.close()
    assert kind.startswith("text/plain; version=0.0.4")
    assert "escudo_watch_batches_total 1\n" in text
    assert "# TYPE escudo_watch_events_total counter" in text
    assert re.search(r"^escudo_watch_lag_seconds \d", text, re.M)
    saved = json.loads((tmp_path / "state" / "status.json").read_text())
    assert saved["last_batch"] == 1 and saved["errors"] == 0


class Collector:
    """A HEC event endpoint (no indexer acknowledgement) keeping every envelope it took."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                collector.events += [json.loads(line) for line in body.splitlines()]
                reply = b'{"text":"Success","code":0}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_hec_store_and_csv_take_a_repeated_batch_once(tmp_path: Path) -> None:
    from escudo.detect.store import Store
    from escudo.outputs import OutputOptions
    from escudo.outputs.hec import HecSender
    from escudo.watch.outputs import FileOutput, HecOutput

    class CrashAfter(FileOutput):
        def deliver(self, batch: int, run: HuntRun) -> None:
            super().deliver(batch, run)
            raise Crash

    collector = Collector()
    log, store, out = tmp_path / "app.log", tmp_path / "store", tmp_path / "alerts.csv"
    log.write_bytes(log_part(0) + log_part(1))

    def loop(last: Any) -> WatchLoop:
        sender = HecSender(collector.url, "t0k3n", spool_dir=tmp_path / "spool")
        runner = Runner(lambda: Session(detections=[NGROK], store=store))
        outputs = [HecOutput(sender), last]
        return WatchLoop([TailFile(log)], runner, outputs, StateDir(tmp_path / "state"))

    first = loop(CrashAfter(out, "csv", "results", OutputOptions()))
    first.start()
    with pytest.raises(Crash):
        first.step()
    first.close()
    sent = len(collector.events)
    second = loop(FileOutput(out, "csv", "results", OutputOptions()))
    second.start()
    assert second.step()
    second.close()
    collector.server.shutdown()
    collector.server.server_close()
    rows = expected_rows(tmp_path)
    lines = out.read_text().splitlines()
    assert lines[0].startswith("detection,dest,user") and len(lines) == 1 + rows
    assert len(collector.events) == sent > 0  # the repeat sent no event again
    ids = [e["fields"]["escudo_event_id"] for e in collector.events]
    assert len(set(ids)) == len(ids)
    assert len(Store(store).results()) == rows
