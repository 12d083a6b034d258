"""Alerts as RFC 5424 syslog messages over TCP (RFC 6587 octet counting) or UDP (RFC 5426).

Each record (a result row, a risk event or a finding) is one message whose MSG is the record as
one JSON object; its STRUCTURED-DATA carries the message id escudo delivers it under, so a
receiver can tell a message from its repeat (``[escudo@32473 id="..."]``; 32473 is the private
enterprise number RFC 5612 reserves for examples). The facility is local0 and the severity
warning by default: ``<132>``.

>>> message = format_message({"detection": "D", "user": "x"}, "ab12", hostname="h",
...                          timestamp="2024-05-01T10:00:00.000000Z", procid="7")
>>> message.decode()
'<132>1 2024-05-01T10:00:00.000000Z h escudo 7 alert [escudo@32473 id="ab12"] {"detection": "D", "user": "x"}'
>>> frame_tcp(b"abc")
b'3 abc'
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from escudo.errors import EscudoError, InputError
from escudo.outputs.base import json_default

FACILITY_LOCAL0 = 16
SEVERITY_WARNING = 4
APP_NAME = "escudo"
MSGID = "alert"
SD_ID = "escudo@32473"  # RFC 5612: 32473 is the enterprise number kept for documentation
MAX_UDP = 65000  # one datagram; RFC 5426 section 3.2: IPv4 UDP carries at most 65,507 bytes


class SyslogError(EscudoError):
    """The syslog receiver could not be reached or closed the connection."""


def _sd_value(text: str) -> str:
    # RFC 5424 section 6.3.3: '"', '\' and ']' are escaped in PARAM-VALUE.
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def format_message(
    record: Mapping[str, Any],
    message_id: str,
    *,
    hostname: str | None = None,
    timestamp: str | None = None,
    procid: str | None = None,
    facility: int = FACILITY_LOCAL0,
    severity: int = SEVERITY_WARNING,
) -> bytes:
    """One RFC 5424 message (section 6): ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG``."""
    if timestamp is None:
        timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    host = (hostname or socket.gethostname() or "-")[:255].replace(" ", "_")
    body = json.dumps(dict(record), default=json_default, ensure_ascii=False)
    header = (
        f"<{facility * 8 + severity}>1 {timestamp} {host} {APP_NAME} "
        f'{procid or os.getpid()} {MSGID} [{SD_ID} id="{_sd_value(message_id)}"] '
    )
    # MSG is UTF-8 text; RFC 5424 6.4 puts a BOM before it, which rsyslog and most receivers
    # keep in the message, so none is written (the JSON is plain UTF-8 either way).
    return header.encode() + body.replace("\n", " ").encode()


def frame_tcp(message: bytes) -> bytes:
    """RFC 6587 section 3.4.1 octet counting: ``MSG-LEN SP SYSLOG-MSG``."""
    return str(len(message)).encode() + b" " + message


class SyslogSender:
    """Sends messages to ``tcp://host:port`` or ``udp://host:port`` (one connection, reopened
    after a failure)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise InputError(f"--syslog-url {url!r}: {exc}") from None
        if parts.scheme not in ("tcp", "udp") or not parts.hostname or port is None:
            raise InputError(
                f"--syslog-url must be tcp://host:port or udp://host:port, not {url!r}"
            )
        self.url = url
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, port
        self.timeout = timeout
        self._sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        if self._sock is None:
            try:
                if self.scheme == "tcp":
                    self._sock = socket.create_connection((self.host, self.port), self.timeout)
                else:
                    info = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0]
                    self._sock = socket.socket(info[0], socket.SOCK_DGRAM)
                    self._sock.connect(info[4])
            except OSError as exc:
                raise SyslogError(f"syslog {self.url}: {exc.strerror or exc}") from None
        return self._sock

    def send(self, message: bytes) -> None:
        """Send one message (raises :class:`SyslogError`; the next send reconnects)."""
        sock = self._connect()
        try:
            if self.scheme == "tcp":
                sock.sendall(frame_tcp(message))
            else:
                sock.send(message[:MAX_UDP])
        except OSError as exc:
            self.close()
            raise SyslogError(f"syslog {self.url}: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
