"""Send risk events and findings to Splunk's HTTP Event Collector (HEC), losing nothing.

Protocol (Splunk docs "Format events for HTTP Event Collector", "About HTTP Event Collector Indexer
Acknowledgment", "HTTP Event Collector REST API endpoints"): ``POST /services/collector/event`` with
``Authorization: Splunk <token>`` and a body of concatenated JSON envelopes ``{"time": <epoch>, "host",
"source", "sourcetype", "index", "event": {...}, "fields": {...}}``; success is HTTP 200 with
``{"text": "Success", "code": 0}`` plus ``"ackId": N`` when the token has indexer acknowledgement,
which ``POST /services/collector/ack?channel=<uuid>`` with ``{"acks": [N]}`` confirms once the events
are indexed. Every request carries the ``X-Splunk-Request-Channel`` header (required with acks).

Delivery: every event gets a stable id (``risk_event_id``/``finding_id``, else a hash of the event),
sent as the indexed field ``escudo_event_id``. Before any request, all events to send are written to
the destination's spool (:mod:`escudo.outputs.spool`); an id enters the sent ledger only after the
server confirmed its batch (the ack when the token has acks, else the 200 response), and only then
leaves the spool. Ids in the ledger are never sent again; what is left in the spool is sent first by
the next run. So no event is lost, and an event is sent twice only if the server stored a batch whose
confirmation never reached us (a response lost after commit, or an ack still false at
``ack_timeout``): Splunk's own advice is to resend then, and ``escudo_event_id`` lets a search dedup.
See docs/semantics.md "ATT&CK, Navigator and HEC".
"""

from __future__ import annotations

import hashlib
import http.client
import json
import ssl
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from escudo.errors import EscudoError, InputError
from escudo.outputs.base import http_url
from escudo.outputs.hec_options import DEFAULT_SOURCETYPE as DEFAULT_SOURCETYPE  # re-exported
from escudo.outputs.hec_options import add_hec_options as add_hec_options  # re-exported
from escudo.outputs.spool import Spool

EVENT_PATH = "/services/collector/event"
ACK_PATH = "/services/collector/ack"
ID_FIELDS = ("risk_event_id", "finding_id", "event_id")  # first present wins
DEFAULT_SOURCE = "escudo"


class HecError(EscudoError):
    """The collector refused us in a way retrying cannot fix (token, URL, TLS, index)."""


class Disposition(Enum):
    OK = "ok"
    RETRY = "retry"  # transient: back off and resend the same batch
    REJECT = "reject"  # the batch is malformed: dead-letter it, go on
    FATAL = "fatal"  # configuration: keep everything spooled, stop, tell the user


# HEC status codes (Splunk docs "Troubleshoot HTTP Event Collector", table of "code" values).
HEC_CODES: dict[int, tuple[str, Disposition]] = {
    0: ("success", Disposition.OK),
    1: ("token disabled", Disposition.FATAL),
    2: ("token is required", Disposition.FATAL),
    3: ("invalid authorization", Disposition.FATAL),
    4: ("invalid token", Disposition.FATAL),
    5: ("no data", Disposition.REJECT),
    6: ("invalid data format", Disposition.REJECT),
    7: ("incorrect index", Disposition.FATAL),
    8: ("internal server error", Disposition.RETRY),
    9: ("server is busy", Disposition.RETRY),
    10: ("data channel is missing", Disposition.FATAL),
    11: ("invalid data channel", Disposition.FATAL),
    12: ("event field is required", Disposition.REJECT),
    13: ("event field cannot be blank", Disposition.REJECT),
    15: ("error in handling indexed fields", Disposition.REJECT),
    18: ("HEC is unhealthy, queues are full", Disposition.RETRY),
}
# When the body has no known code, the HTTP status decides.
HTTP_STATUS: dict[int, Disposition] = {
    400: Disposition.REJECT,
    401: Disposition.FATAL,
    403: Disposition.FATAL,
    404: Disposition.FATAL,
    413: Disposition.REJECT,
    429: Disposition.RETRY,
}
# A dropped or refused connection, a timeout, a truncated response: the server may come back.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    http.client.HTTPException,
    OSError,
)


@dataclass
class SendReport:
    """What one :meth:`HecSender.send` did."""

    delivered: int = 0  # confirmed by the collector in this call
    from_spool: int = 0  # spooled by earlier runs, now retried
    duplicates: int = 0  # skipped: already confirmed earlier, or twice in the input
    spooled: int = 0  # left in the spool for the next run
    rejected: int = 0  # refused as malformed, kept in rejected.jsonl
    retries: int = 0
    error: str | None = None  # why delivery stopped early
    spool_path: Path | None = None  # where the spooled events wait

    @property
    def gave_up(self) -> bool:
        """Delivery stopped with events left in the spool (``escudo hunt`` exits 3)."""
        return self.spooled > 0

    def summary(self) -> str:
        """One line for the CLI, e.g. ``HEC: 4 delivered, 0 spooled``; when delivery gave up it
        says where the events wait.

        >>> SendReport(delivered=2, spooled=3, error="gave up", spool_path=Path("p.jsonl")).summary()
        'HEC: 2 delivered, 3 spooled (gave up): 3 events stay spooled at p.jsonl'
        """
        text = f"HEC: {self.delivered} delivered, {self.spooled} spooled"
        extra = [
            (self.duplicates, "already sent"),
            (self.rejected, "rejected"),
            (self.retries, "retries"),
        ]
        text += "".join(f", {n} {label}" for n, label in extra if n)
        text += f" ({self.error})" if self.error else ""
        return text + (f": {self.stays()}" if self.gave_up else "")

    def stays(self) -> str:
        """``N events stay spooled at PATH``."""
        return f"{self.spooled} events stay spooled at {self.spool_path}"


class _Unavailable(Exception):
    pass


class _Rejected(Exception):
    pass


def event_id(event: Mapping[str, Any]) -> str:
    """The event's own id field, else a hash of its canonical JSON.

    >>> event_id({"risk_event_id": "abc", "x": 1})
    'abc'
    >>> event_id({"x": 1}) == event_id({"x": 1})
    True
    """
    for name in ID_FIELDS:
        if event.get(name):
            return str(event[name])
    text = json.dumps(event, sort_keys=True, default=_jsonable, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def epoch(value: Any, default: float) -> float:
    """Seconds since 1970 from a datetime, a number or an ISO-8601 text (naive = UTC).

    >>> epoch("2024-10-24T10:00:00Z", 0.0)
    1729764000.0
    """
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return round(moment.timestamp(), 3)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(float(value), 3)
    if isinstance(value, str) and value:
        try:
            return round(float(value), 3)
        except ValueError:
            pass
        try:
            return epoch(datetime.fromisoformat(value.replace("Z", "+00:00")), default)
        except ValueError:
            pass
    return round(default, 3)


class HecSender:
    """A batching, retrying, spooling HEC client.

    >>> sender = HecSender("https://splunk.example:8088", "t0k3n", spool_dir=Path("/tmp/x"))
    >>> sender.event_url
    'https://splunk.example:8088/services/collector/event'
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        index: str | None = None,
        sourcetype: str | None = None,
        source: str | None = None,
        verify_tls: bool = True,
        ca_file: Path | None = None,
        batch_size: int = 100,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 10.0,
        ack_timeout: float = 30.0,
        ack_poll_interval: float = 0.5,
        spool_dir: Path | None = None,
        channel: str | None = None,
    ) -> None:
        parts, host, port = http_url("--hec-url", url)
        if not token:
            raise InputError("a HEC token is required (--hec-token or ESCUDO_HEC_TOKEN)")
        self.scheme, self.host, self.port = parts.scheme, host, port
        # Accept the base URL or one that already names the collector endpoint.
        self.base_path = parts.path.rstrip("/").split("/services/collector")[0]
        self.token = token
        self.index, self.sourcetype, self.source = index, sourcetype, source
        self.batch_size = max(1, batch_size)
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        self.timeout, self.ack_timeout, self.ack_poll_interval = (
            timeout,
            ack_timeout,
            ack_poll_interval,
        )
        self.channel = channel or str(uuid.uuid4())
        self.ssl_context: ssl.SSLContext | None = None
        if self.scheme == "https":
            self.ssl_context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
            if not verify_tls:
                self.ssl_context.check_hostname = False
                self.ssl_context.verify_mode = ssl.CERT_NONE
        root = spool_dir if spool_dir is not None else default_spool_dir()
        # one spool per destination: a ledger of what one collector has must not hide events from another
        destination = f"{self.scheme}://{self.host}:{self.port}{self.base_path}"
        self.spool = Spool(Path(root) / hashlib.sha256(destination.encode()).hexdigest()[:16])

    @property
    def event_url(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{self.host}{port}{self.base_path}{EVENT_PATH}"

    def send(self, events: Iterable[Mapping[str, Any]]) -> SendReport:
        """Spool ``events``, then deliver the spool (older events first) in batches.

        Raises :class:`HecError` for a refused token, a wrong URL or a TLS failure, after spooling
        (its message says how many events stay spooled, and where).
        """
        report = SendReport(spool_path=self.spool.pending_path)
        fatal: HecError | None = None
        with self.spool.locked():
            sent = self.spool.sent_ids()
            queue: dict[str, dict[str, Any]] = {}
            for item in self.spool.pending():
                if item["id"] not in sent:
                    queue[item["id"]] = item
            report.from_spool = len(queue)
            now = time.time()
            for event in events:
                eid = event_id(event)
                if eid in sent or eid in queue:
                    report.duplicates += 1
                    continue
                plain = json.loads(json.dumps(dict(event), default=_jsonable))
                queue[eid] = {"id": eid, "time": epoch(event.get("_time"), now), "event": plain}
            self.spool.write_pending(queue.values())  # write-ahead: nothing is only in memory
            items = list(queue.values())
            try:
                for start in range(0, len(items), self.batch_size):
                    batch = items[start : start + self.batch_size]
                    try:
                        self._deliver(batch, report)
                    except _Rejected as exc:
                        self.spool.reject(batch, str(exc))
                        report.rejected += len(batch)
                    except _Unavailable as exc:
                        report.error = str(exc)
                        break
                    else:
                        self.spool.mark_sent(item["id"] for item in batch)
                        report.delivered += len(batch)
                    for item in batch:
                        queue.pop(item["id"], None)
            except HecError as exc:
                fatal = exc
            finally:
                self.spool.write_pending(queue.values())
                report.spooled = len(queue)
        if fatal is not None:
            raise HecError(f"{fatal}; {report.stays()}") from fatal
        return report

    def flush(self) -> SendReport:
        """Deliver what earlier runs left in the spool."""
        return self.send(())

    def envelope(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """The HEC JSON envelope of one spooled item."""
        event = item["event"]
        out: dict[str, Any] = {"time": item["time"]}
        host = event.get("host") or event.get("dest")
        if host:
            out["host"] = str(host)
        out["source"] = self.source or DEFAULT_SOURCE
        out["sourcetype"] = self.sourcetype or DEFAULT_SOURCETYPE
        if self.index:
            out["index"] = self.index
        out["event"] = event
        out["fields"] = {"escudo_event_id": item["id"]}
        return out

    def _deliver(self, batch: list[dict[str, Any]], report: SendReport) -> None:
        body = "\n".join(
            json.dumps(self.envelope(i), separators=(",", ":")) for i in batch
        ).encode()
        attempt = 0
        payload: Any = None
        while True:
            retry_after: float | None = None
            try:
                status, headers, payload = self._post(EVENT_PATH, body)
                disposition, message = classify(status, payload)
                if headers.get("retry-after", "").isdigit():
                    retry_after = float(headers["retry-after"])
            except _Unavailable as exc:
                disposition, message = Disposition.RETRY, str(exc)
            if disposition is Disposition.OK:
                break
            if disposition is Disposition.FATAL:
                raise HecError(f"HEC at {self.event_url} refused the request: {message}")
            if disposition is Disposition.REJECT:
                raise _Rejected(message)
            if attempt >= self.max_retries:
                raise _Unavailable(f"gave up after {attempt + 1} attempts: {message}")
            delay = min(self.max_backoff, self.backoff * 2**attempt)
            time.sleep(min(self.max_backoff, retry_after) if retry_after is not None else delay)
            attempt += 1
            report.retries += 1
        ack_id = payload.get("ackId") if isinstance(payload, dict) else None
        if ack_id is not None and not self._acknowledged(int(ack_id)):
            raise _Unavailable(
                f"no indexer acknowledgement for ackId {ack_id} in {self.ack_timeout}s"
            )

    def _acknowledged(self, ack_id: int) -> bool:
        body = json.dumps({"acks": [ack_id]}).encode()
        deadline = time.monotonic() + self.ack_timeout
        while True:
            try:
                status, _, payload = self._post(ACK_PATH, body)
                if status == 200 and isinstance(payload, dict):
                    if (payload.get("acks") or {}).get(str(ack_id)) is True:
                        return True
                elif isinstance(payload, dict) and payload.get("code") == 14:
                    return True  # "ACK is disabled": the 200 we already have is all there is
            except _Unavailable:
                pass
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.ack_poll_interval)

    def _post(self, path: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        connection: http.client.HTTPConnection
        if self.ssl_context is not None:
            connection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self.ssl_context
            )
        else:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        headers = {
            "Authorization": f"Splunk {self.token}",
            "X-Splunk-Request-Channel": self.channel,
            "Content-Type": "application/json",
        }
        try:
            connection.request(
                "POST", f"{self.base_path}{path}?channel={self.channel}", body, headers
            )
            response = connection.getresponse()
            raw = response.read()
            status = response.status
            response_headers = {k.lower(): v for k, v in response.getheaders()}
        except ssl.SSLCertVerificationError as exc:
            # an untrusted or mismatched certificate: retrying cannot fix it
            raise HecError(
                f"TLS certificate of {self.event_url} not trusted: {exc.verify_message}"
            ) from exc
        except TRANSIENT_ERRORS as exc:
            raise _Unavailable(f"{type(exc).__name__}: {exc}") from exc
        finally:
            connection.close()
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            payload = {"text": raw[:200].decode("utf-8", "replace")}
        return status, response_headers, payload


def classify(status: int, payload: Any) -> tuple[Disposition, str]:
    """What to do with a collector response: by its HEC ``code`` when known, else by HTTP status.

    >>> classify(503, {"text": "Server is busy", "code": 9})
    (<Disposition.RETRY: 'retry'>, 'HTTP 503, code 9: Server is busy')
    """
    code = payload.get("code") if isinstance(payload, dict) else None
    text = str(payload.get("text", "")) if isinstance(payload, dict) else ""
    message = (
        f"HTTP {status}"
        + (f", code {code}" if code is not None else "")
        + (f": {text}" if text else "")
    )
    if status == 200 and code in (0, None):
        return Disposition.OK, message
    if isinstance(code, int) and code in HEC_CODES and code != 0:
        return HEC_CODES[code][1], message
    if status in HTTP_STATUS:
        return HTTP_STATUS[status], message
    return (Disposition.RETRY if status >= 500 else Disposition.FATAL), message


def default_spool_dir() -> Path:
    """``$XDG_STATE_HOME/escudo/hec-spool`` (platformdirs' user state dir)."""
    import platformdirs

    return Path(platformdirs.user_state_dir("escudo")) / "hec-spool"


def hec_from_options(**kwargs: Any) -> HecSender | None:
    """A sender from the ``hec_*`` keyword arguments click passes (others are ignored); ``None``
    without ``--hec-url``.

    >>> hec_from_options(hec_url=None, other=1) is None
    True
    """
    url = kwargs.get("hec_url")
    if not url:
        return None
    return HecSender(
        url,
        kwargs.get("hec_token") or "",
        index=kwargs.get("hec_index"),
        sourcetype=kwargs.get("hec_sourcetype"),
        verify_tls=not kwargs.get("hec_insecure", False),
        spool_dir=kwargs.get("hec_spool"),
    )
