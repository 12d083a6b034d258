"""HEC output against a real HTTP server on 127.0.0.1 that speaks the collector protocol.

The receiver checks the token, parses concatenated JSON envelopes, answers with ``ackId``s and serves
``/services/collector/ack``; a script of failures (503, a stalled response, a dropped connection, a
400) is played on the first ``/event`` requests.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from escudo.errors import InputError
from escudo.outputs.hec import (
    Disposition,
    HecError,
    HecSender,
    add_hec_options,
    classify,
    event_id,
    hec_from_options,
)

TOKEN = "11111111-2222-3333-4444-555555555555"
FAST = {
    "backoff": 0.01,
    "max_backoff": 0.05,
    "timeout": 1.0,
    "ack_poll_interval": 0.01,
    "ack_timeout": 2.0,
}


class Receiver:
    """A HEC endpoint: ``committed`` holds every envelope it stored, in arrival order."""

    def __init__(
        self, *, failures: list[str] | None = None, acks: bool = True, ack_never: bool = False
    ) -> None:
        self.failures = list(failures or [])
        self.acks = acks
        self.ack_never = ack_never
        self.committed: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.ack_status: dict[int, int] = {}  # ackId -> polls left before it turns true
        self.next_ack = 0
        self.lock = threading.Lock()
        self.release = threading.Event()  # ends a stalled response
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def ids(self) -> Counter[str]:
        return Counter(e["fields"]["escudo_event_id"] for e in self.committed)

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(
                self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers)})
                auth = self.headers.get("Authorization")
                if auth is None:
                    return self._reply(401, {"text": "Token is required", "code": 2})
                if auth != f"Splunk {TOKEN}":
                    return self._reply(401, {"text": "Invalid token", "code": 4})
                if receiver.acks and not self.headers.get("X-Splunk-Request-Channel"):
                    return self._reply(400, {"text": "Data channel is missing", "code": 10})
                if self.path.startswith("/services/collector/ack"):
                    return self._ack(json.loads(body))
                if not self.path.startswith("/services/collector/event"):
                    return self._reply(
                        404,
                        {"text": "The requested URL was not found on this server.", "code": 404},
                    )
                with receiver.lock:
                    action = receiver.failures.pop(0) if receiver.failures else "ok"
                if action == "503":
                    return self._reply(503, {"text": "Server is busy", "code": 9})
                if action == "busy":  # 503 asking to retry at once (the sender honours it)
                    return self._reply(
                        503, {"text": "Server is busy", "code": 9}, {"Retry-After": "0"}
                    )
                if action == "stall":  # longer than the client's timeout; nothing stored
                    receiver.release.wait(0.25)
                    return
                if action == "drop":  # close without a response; nothing stored
                    self.close_connection = True
                    return
                if action == "400":
                    return self._reply(
                        400, {"text": "Invalid data format", "code": 6, "invalid-event-number": 0}
                    )
                self._commit(body)

            def _commit(self, body: bytes) -> None:
                decoder, text, position, envelopes = json.JSONDecoder(), body.decode(), 0, []
                while position < len(text):
                    if text[position].isspace():
                        position += 1
                        continue
                    envelope, position = decoder.raw_decode(text, position)
                    envelopes.append(envelope)
                with receiver.lock:
                    receiver.committed.extend(envelopes)
                    if not receiver.acks:
                        return self._reply(200, {"text": "Success", "code": 0})
                    ack_id = receiver.next_ack
                    receiver.next_ack += 1
                    receiver.ack_status[ack_id] = 1  # false on the first poll, true on the next
                self._reply(200, {"text": "Success", "code": 0, "ackId": ack_id})

            def _ack(self, request: dict[str, Any]) -> None:
                answer: dict[str, bool] = {}
                with receiver.lock:
                    for ack_id in request["acks"]:
                        left = receiver.ack_status.get(ack_id, 0)
                        answer[str(ack_id)] = left <= 0 and not receiver.ack_never
                        receiver.ack_status[ack_id] = left - 1
                self._reply(200, {"acks": answer})

        return Handler


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    started: list[Receiver] = []

    def make(**kwargs: Any) -> Receiver:
        receiver = Receiver(**kwargs).start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.stop()


def risk_events(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "risk_event_id": f"r{i:04d}",
            "_time": datetime(2024, 10, 24, 10, 0, i % 60, tzinfo=UTC),
            "risk_object": "alice",
            "risk_score": 50,
            "dest": "web-02",
            "annotations.mitre_attack.mitre_technique_id": ["T1572", "T1090", "T1102"],
        }
        for i in range(start, start + n)
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_flaky_receiver_gets_every_event_exactly_once(
    receiver_factory: Any, tmp_path: Path
) -> None:
    receiver = receiver_factory(failures=["503", "stall", "drop", "503"])
    sender = HecSender(
        receiver.url, TOKEN, batch_size=40, spool_dir=tmp_path, **FAST | {"timeout": 0.1}
    )
    events = risk_events(100)
    report = sender.send(events)
    assert (report.delivered, report.spooled, report.retries, report.error) == (100, 0, 4, None)
    assert receiver.ids() == Counter({e["risk_event_id"]: 1 for e in events})
    assert sender.spool.pending() == []
    # a replay of the same events sends nothing
    again = sender.send(events)
    assert (again.delivered, again.duplicates) == (0, 100)
    assert len(receiver.committed) == 100


def test_receiver_down_for_a_run_then_spool_is_delivered_once(
    receiver_factory: Any, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = HecSender(url, TOKEN, max_retries=2, spool_dir=tmp_path, **FAST).send(risk_events(30))
    assert (first.delivered, first.spooled, first.retries) == (0, 30, 2)
    assert first.error and "gave up after 3 attempts" in first.error
    pending = next(tmp_path.iterdir()) / "pending.jsonl"
    assert len(pending.read_text().splitlines()) == 30

    receiver = Receiver()
    receiver.server.server_close()
    receiver.server = ThreadingHTTPServer(("127.0.0.1", port), receiver.server.RequestHandlerClass)
    receiver.thread = threading.Thread(
        target=receiver.server.serve_forever, args=(0.05,), daemon=True
    )
    receiver.start()
    try:
        # the next run replays 10 of the same events and brings 5 new ones
        second = HecSender(url, TOKEN, spool_dir=tmp_path, **FAST).send(risk_events(15, start=20))
        assert (second.from_spool, second.delivered, second.duplicates, second.spooled) == (
            30,
            35,
            10,
            0,
        )
        assert receiver.ids() == Counter({f"r{i:04d}": 1 for i in range(35)})
        assert not pending.exists()
    finally:
        receiver.stop()


def test_wrong_token_is_a_clear_error_and_events_stay_spooled(
    receiver_factory: Any, tmp_path: Path
) -> None:
    receiver = receiver_factory()
    sender = HecSender(receiver.url, "not-the-token", spool_dir=tmp_path, **FAST)
    with pytest.raises(HecError) as info:
        sender.send(risk_events(3))
    message = info.value.render()
    assert f"HEC at {receiver.url}/services/collector/event refused the request" in message
    assert "HTTP 401, code 4: Invalid token" in message
    assert [i["id"] for i in sender.spool.pending()] == ["r0000", "r0001", "r0002"]
    assert receiver.committed == []
    fixed = HecSender(receiver.url, TOKEN, spool_dir=tmp_path, **FAST).flush()
    assert (fixed.delivered, fixed.spooled) == (3, 0)


def test_wrong_path_is_fatal(receiver_factory: Any, tmp_path: Path) -> None:
    receiver = receiver_factory()
    sender = HecSender(receiver.url + "/nothing-here", TOKEN, spool_dir=tmp_path, **FAST)
    with pytest.raises(HecError, match="HTTP 404"):
        sender.send(risk_events(1))


def test_malformed_batch_is_dead_lettered_not_retried(
    receiver_factory: Any, tmp_path: Path
) -> None:
    receiver = receiver_factory(failures=["400"])
    sender = HecSender(receiver.url, TOKEN, batch_size=2, spool_dir=tmp_path, **FAST)
    report = sender.send(risk_events(4))
    assert (report.delivered, report.rejected, report.spooled, report.retries) == (2, 2, 0, 0)
    rejected = [
        json.loads(line)
        for line in (sender.spool.directory / "rejected.jsonl").read_text().splitlines()
    ]
    assert [r["id"] for r in rejected] == ["r0000", "r0001"]
    assert rejected[0]["reason"] == "HTTP 400, code 6: Invalid data format"
    assert sender.flush().delivered == 0  # never resent automatically


def test_missing_ack_keeps_the_batch_spooled(receiver_factory: Any, tmp_path: Path) -> None:
    receiver = receiver_factory(ack_never=True)
    sender = HecSender(receiver.url, TOKEN, spool_dir=tmp_path, **FAST | {"ack_timeout": 0.05})
    report = sender.send(risk_events(2))
    assert (report.delivered, report.spooled) == (0, 2)
    assert report.error == "no indexer acknowledgement for ackId 0 in 0.05s"
    # The documented limit: the collector had stored the batch, so the resend duplicates it.
    receiver.ack_never = False
    assert sender.flush().delivered == 2
    assert receiver.ids() == Counter({"r0000": 2, "r0001": 2})


def test_envelope_and_headers(receiver_factory: Any, tmp_path: Path) -> None:
    receiver = receiver_factory(acks=False)
    sender = HecSender(
        receiver.url,
        TOKEN,
        index="risk",
        sourcetype="escudo:risk",
        spool_dir=tmp_path,
        channel="0f6e1a9c-0000-4000-8000-000000000001",
        **FAST,
    )
    assert (
        sender.send(
            [*risk_events(1), {"finding_id": "f1", "_time": 1729764000, "host": "h1"}]
        ).delivered
        == 2
    )
    risk, finding = receiver.committed
    assert risk == {
        "time": 1729764000.0,
        "host": "web-02",
        "source": "escudo",
        "sourcetype": "escudo:risk",
        "index": "risk",
        "event": {
            "risk_event_id": "r0000",
            "_time": "2024-10-24T10:00:00+00:00",
            "risk_object": "alice",
            "risk_score": 50,
            "dest": "web-02",
            "annotations.mitre_attack.mitre_technique_id": ["T1572", "T1090", "T1102"],
        },
        "fields": {"escudo_event_id": "r0000"},
    }
    assert (finding["host"], finding["fields"]) == ("h1", {"escudo_event_id": "f1"})
    request = receiver.requests[0]
    assert (
        request["path"] == "/services/collector/event?channel=0f6e1a9c-0000-4000-8000-000000000001"
    )
    assert request["headers"]["Authorization"] == f"Splunk {TOKEN}"
    assert request["headers"]["X-Splunk-Request-Channel"] == "0f6e1a9c-0000-4000-8000-000000000001"


def test_two_senders_at_once_deliver_each_event_once(receiver_factory: Any, tmp_path: Path) -> None:
    receiver = receiver_factory()
    events = risk_events(50)
    reports = []

    def run() -> None:
        reports.append(
            HecSender(receiver.url, TOKEN, batch_size=7, spool_dir=tmp_path, **FAST).send(events)
        )

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.delivered for r in reports) == [0, 50]
    assert receiver.ids() == Counter({e["risk_event_id"]: 1 for e in events})


def test_events_without_ids_get_a_stable_hash() -> None:
    a = {"user": "alice", "_time": datetime(2024, 1, 1, tzinfo=UTC)}
    assert event_id(a) == event_id(dict(reversed(list(a.items()))))
    assert event_id(a) != event_id({**a, "user": "bob"})
    assert len(event_id(a)) == 32


@pytest.mark.parametrize(
    ("status", "payload", "disposition"),
    [
        (200, {"text": "Success", "code": 0, "ackId": 3}, Disposition.OK),
        (503, {"text": "Server is busy", "code": 9}, Disposition.RETRY),
        (500, {"text": "Internal server error", "code": 8}, Disposition.RETRY),
        (502, {"text": "<html>bad gateway"}, Disposition.RETRY),
        (429, {}, Disposition.RETRY),
        (403, {"text": "Token disabled", "code": 1}, Disposition.FATAL),
        (400, {"text": "Incorrect index", "code": 7}, Disposition.FATAL),
        (400, {"text": "Event field is required", "code": 12}, Disposition.REJECT),
        (413, {"text": "Content too large"}, Disposition.REJECT),
        (301, {}, Disposition.FATAL),
    ],
)
def test_classify(status: int, payload: dict[str, Any], disposition: Disposition) -> None:
    assert classify(status, payload)[0] is disposition


def test_tls_verification_is_on_by_default(tmp_path: Path) -> None:
    strict = HecSender("https://splunk.example:8088", TOKEN, spool_dir=tmp_path)
    assert strict.ssl_context is not None
    assert strict.ssl_context.verify_mode is ssl.CERT_REQUIRED and strict.ssl_context.check_hostname
    loose = HecSender("https://splunk.example:8088", TOKEN, verify_tls=False, spool_dir=tmp_path)
    assert loose.ssl_context is not None and loose.ssl_context.verify_mode is ssl.CERT_NONE


def test_self_signed_certificate_is_refused_unless_insecure(
    receiver_factory: Any, tmp_path: Path
) -> None:
    pytest.importorskip(
        "cryptography", reason="the cryptography package is not installed: no test certificate"
    )
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    receiver = receiver_factory()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
    url = receiver.url.replace("http://", "https://")
    with pytest.raises(HecError, match=r"TLS certificate of .* not trusted"):
        HecSender(url, TOKEN, spool_dir=tmp_path / "spool", **FAST).send(risk_events(1))
    report = HecSender(url, TOKEN, verify_tls=False, spool_dir=tmp_path / "spool", **FAST).flush()
    assert report.delivered == 1


def test_cli_options_build_a_sender(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    @click.command()
    @add_hec_options
    def command(**kwargs: Any) -> None:
        seen["sender"] = hec_from_options(**kwargs)

    args = [
        "--hec-url",
        "https://splunk.example:8088/services/collector/event",
        "--hec-index",
        "risk",
    ]
    args += ["--hec-sourcetype", "escudo:risk", "--hec-insecure", "--hec-spool", str(tmp_path)]
    result = CliRunner().invoke(command, args, env={"ESCUDO_HEC_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    sender = seen["sender"]
    assert (sender.token, sender.index, sender.sourcetype) == (TOKEN, "risk", "escudo:risk")
    assert sender.event_url == "https://splunk.example:8088/services/collector/event"
    assert sender.ssl_context.verify_mode is ssl.CERT_NONE
    assert sender.spool.directory.parent == tmp_path
    assert CliRunner().invoke(command, [], env={}).exit_code == 0 and seen["sender"] is None


@pytest.mark.parametrize(
    ("url", "token", "message"),
    [
        ("splunk:8088", TOKEN, "--hec-url must be http(s)://host[:port], not 'splunk:8088'"),
        ("https://splunk:8088", "", "a HEC token is required (--hec-token or ESCUDO_HEC_TOKEN)"),
    ],
)
def test_bad_options(url: str, token: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        hec_from_options(hec_url=url, hec_token=token, hec_spool=tmp_path)
    assert str(info.value) == message


def test_hunt_sends_risk_events_to_hec_exactly_once(
    receiver_factory: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``escudo hunt --hec-url`` end to end: two risk events per seed result reach the receiver once,
    and a second identical run sends nothing again."""
    from escudo.cli import main
    from escudo.detect.testing import BUNDLED_ATTACK_DATA

    log = BUNDLED_ATTACK_DATA / "datasets/attack_techniques/T1572/ngrok/ngrok_linux-sysmon.log"
    receiver = receiver_factory()
    args = [
        "hunt", str(log), "--detection", "Linux Ngrok Reverse Proxy Usage", "--format", "jsonl",
        "--hec-url", receiver.url, "--hec-token", TOKEN, "--hec-spool", str(tmp_path / "spool"),
    ]  # fmt: skip
    assert main(args) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows, "the seed detection finds nothing in its own attack data"
    risk = [e["event"] for e in receiver.committed if "risk_event_id" in e["event"]]
    assert len(risk) == 2 * len(rows)
    assert Counter(e["risk_object_type"] for e in risk) == {"user": len(rows), "system": len(rows)}
    assert set(receiver.ids().values()) == {1}

    assert main(args) == 0  # same logs again: every id was delivered already
    assert set(receiver.ids().values()) == {1}


def test_hunt_prints_its_rows_before_a_refused_token_ends_the_run(
    receiver_factory: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong token is exit 2 with the HEC error, but the rows are printed and the events spooled."""
    from escudo.cli import main
    from escudo.detect.testing import BUNDLED_ATTACK_DATA

    log = BUNDLED_ATTACK_DATA / "datasets/attack_techniques/T1572/ngrok/ngrok_linux-sysmon.log"
    receiver = receiver_factory()
    spool = tmp_path / "spool"
    args = [
        "hunt", str(log), "--detection", "Linux Ngrok Reverse Proxy Usage", "--format", "jsonl",
        "--hec-url", receiver.url, "--hec-spool", str(spool),
    ]  # fmt: skip
    assert main([*args, "--hec-token", "not-the-token"]) == 2
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 9 and "HTTP 401, code 4: Invalid token" in err
    assert receiver.committed == []
    [folder] = spool.iterdir()
    pending = [json.loads(line) for line in (folder / "pending.jsonl").read_text().splitlines()]
    assert f"; {len(pending)} events stay spooled at {folder / 'pending.jsonl'}" in err
    assert sum("risk_event_id" in p["event"] for p in pending) == 2 * len(rows)  # + findings
    assert main([*args, "--hec-token", TOKEN]) == 0  # the next run delivers them, once
    assert set(receiver.ids().values()) == {1} and len(receiver.committed) == len(pending)


def test_hunt_exits_3_when_delivery_gives_up_and_says_what_stays_spooled(
    receiver_factory: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The collector answers every attempt with 503: the rows are printed, one line says how many
    events stay spooled and where, and the exit code is 3 (also with ``--fail-on-findings``, whose
    1 it outranks); once the collector is back the next run delivers them and exits 0."""
    from escudo.cli import main
    from escudo.detect.testing import BUNDLED_ATTACK_DATA

    log = BUNDLED_ATTACK_DATA / "datasets/attack_techniques/T1572/ngrok/ngrok_linux-sysmon.log"
    attempts = 6  # the first try and the CLI's 5 retries
    receiver = receiver_factory(failures=["busy"] * attempts)
    spool = tmp_path / "spool"
    args = [
        "hunt", str(log), "--detection", "Linux Ngrok Reverse Proxy Usage", "--format", "jsonl",
        "--hec-url", receiver.url, "--hec-token", TOKEN, "--hec-spool", str(spool),
    ]  # fmt: skip
    assert main(args) == 3
    out, err = capsys.readouterr()
    assert len([json.loads(line) for line in out.splitlines()]) == 9
    [folder] = spool.iterdir()
    pending = folder / "pending.jsonl"
    spooled = len(pending.read_text().splitlines())
    [line] = [line for line in err.splitlines() if "stay spooled" in line]
    assert line.endswith(f": {spooled} events stay spooled at {pending}")
    assert f"gave up after {attempts} attempts: HTTP 503, code 9: Server is busy" in line
    assert receiver.committed == []

    receiver.failures = ["busy"] * attempts
    assert main([*args, "--fail-on-findings"]) == 3
    assert "stay spooled" in capsys.readouterr().err and receiver.committed == []

    assert main([*args, "--fail-on-findings"]) == 1  # the collector is back
    err = capsys.readouterr().err
    assert "stay spooled" not in err and not pending.exists()
    assert len(receiver.committed) == spooled and set(receiver.ids().values()) == {1}
