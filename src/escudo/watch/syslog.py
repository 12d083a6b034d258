"""A syslog receiver for ``escudo watch``: UDP and TCP, RFC 3164 and RFC 5424, octet-counted and
newline framing (RFC 6587), for forwarding from rsyslog or syslog-ng.

A thread receives; every message becomes one line in an append-only spool in the state folder,
flushed and fsynced after each receive batch, and the spool is followed as a file
(:class:`~escudo.watch.files.FileInput`): the batch loop's checkpoint is a position in the spool,
so a crash loses nothing the spool holds and repeats nothing (semantics "The syslog receiver").

A message becomes a line the Sysmon and auditd readers accept (``escudo.sources.framing``'s syslog
shapes), the payload byte for byte (a newline in it is written ``#012``, as rsyslog does):

>>> to_line(b"<14>Nov 24 09:59:47 web-1 sysmon: <Event/>", "10.0.0.1")
b'Nov 24 09:59:47 web-1 sysmon: <Event/>\\n'
>>> to_line(b"<14>1 2022-11-24T09:59:47.85Z web-1 sysmon 42 - [a b=\\"]\\"] \\xef\\xbb\\xbfhi", "h")
b'2022-11-24T09:59:47.85Z web-1 sysmon[42]: hi\\n'
"""

from __future__ import annotations

import os
import re
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from escudo.errors import InputError
from escudo.watch.base import Checkpoint, Piece
from escudo.watch.files import FileInput

SPOOL_PATTERN = "syslog-*.spool"
SEGMENT_BYTES = 64 << 20  # a new spool file past this size
MAX_MESSAGE = 1 << 20  # an octet count above this is not one (the frame is read as a line)
UDP_MAX = 65535
_BOM = b"\xef\xbb\xbf"
_PRI = re.compile(rb"<(\d{1,3})>")
_VERSION = re.compile(rb"[1-9]\d{0,2} ")
# RFC 3164 section 4.1.2: TIMESTAMP ("Mmm dd hh:mm:ss", a day below 10 with a space) SP HOSTNAME
_RFC3164_STAMP = re.compile(rb"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _structured_data_end(msg: bytes, pos: int) -> int:
    """The end of RFC 5424 STRUCTURED-DATA starting at ``pos`` (``-`` or ``[...]`` elements,
    ``\\]`` ``\\"`` ``\\\\`` escaped in quoted values), or -1 if it is not well formed."""
    if msg[pos : pos + 1] == b"-":
        return pos + 1
    while msg[pos : pos + 1] == b"[":
        pos += 1
        quoted = False
        while pos < len(msg):
            c = msg[pos : pos + 1]
            if quoted and c == b"\\":
                pos += 2
                continue
            if c == b'"':
                quoted = not quoted
            elif c == b"]" and not quoted:
                break
            pos += 1
        else:
            return -1
        pos += 1
    return pos if pos > 0 and msg[pos - 1 : pos] == b"]" else -1


def _rfc5424(body: bytes) -> tuple[bytes, bytes, bytes, bytes, bytes] | None:
    """TIMESTAMP, HOSTNAME, APP-NAME, PROCID and MSG of what follows ``<PRI>VERSION SP`` (RFC 5424
    section 6), or None if it is not that."""
    parts = body.split(b" ", 4)
    if len(parts) < 5:
        return None
    stamp, host, app, procid, rest = parts  # rest: MSGID SP STRUCTURED-DATA [SP MSG]
    msgid, sep, rest = rest.partition(b" ")
    if not sep or not msgid:
        return None
    end = _structured_data_end(rest, 0)
    if end < 0 or rest[end : end + 1] not in (b"", b" "):
        return None
    msg = rest[end + 1 :]
    if msg.startswith(_BOM):  # RFC 5424 6.4: the BOM says UTF-8; it is not part of the text
        msg = msg[3:]
    return stamp, host, app, procid, msg


def _now_3164(now: float) -> bytes:
    t = time.gmtime(now)
    return b"%s %2d %02d:%02d:%02d" % (_MONTHS[t.tm_mon - 1].encode(), t.tm_mday, *t[3:6])


def to_line(message: bytes, peer: str, now: float | None = None) -> bytes:
    """One received syslog message as one spool line.

    RFC 3164 ``<PRI>Mmm dd hh:mm:ss host tag: msg`` loses only its ``<PRI>``; RFC 5424 becomes
    ``TIMESTAMP HOSTNAME APP-NAME[PROCID]: MSG`` (rsyslog's RSYSLOG_FileFormat), the structured
    data and the BOM dropped, a ``-`` host replaced by the sender's address; anything else gets
    the header an RFC 3164 relay adds (section 4.3.3: the time received and the sender).

    >>> to_line(b"hello\\nworld\\n", "10.0.0.9", now=0)
    b'Jan  1 00:00:00 10.0.0.9 hello#012world\\n'
    """
    message = message.rstrip(b"\r\n\0")
    line = b""
    pri = _PRI.match(message)
    if pri:
        body = message[pri.end() :]
        version = _VERSION.match(body)
        fields = _rfc5424(body[version.end() :]) if version else None
        if fields is not None:
            stamp, host, app, procid, msg = fields
            if stamp == b"-":
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)).encode()
            host = peer.encode() if host == b"-" else host
            tag = app if procid == b"-" else b"%s[%s]" % (app, procid)
            line = b"%s %s %s: %s" % (stamp, host, tag, msg)
        elif _RFC3164_STAMP.match(body):
            line = body
        else:
            message = body
    if not line:
        line = b"%s %s %s" % (
            _now_3164(time.time() if now is None else now),
            peer.encode(),
            message,
        )
    return line.replace(b"\n", b"#012") + b"\n"


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``) into a socket address.

    >>> parse_address("127.0.0.1:5514"), parse_address("[::1]:514")
    (('127.0.0.1', 5514), ('::1', 514))
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise InputError(f"syslog address {text!r}: expected HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


@dataclass
class _Conn:
    peer: str
    buf: bytearray = field(default_factory=bytearray)


def frames(buf: bytearray, final: bool = False) -> list[bytes]:
    """Take the complete messages off the start of a TCP stream's ``buf``: octet-counted
    (``LEN SP MSG``, RFC 6587 3.4.1) when a frame starts with a digit, else ended by a newline
    (3.4.2), or cut at :data:`MAX_MESSAGE` bytes if none comes; ``final``: the connection
    closed, what is left is a last message.

    >>> b = bytearray(b"5 <1>ab<2>cd\\n11 <3>e"); frames(b), b
    ([b'<1>ab', b'<2>cd'], bytearray(b'11 <3>e'))
    """
    out: list[bytes] = []
    while buf:
        if buf[:1].isdigit():
            space = buf.find(b" ", 0, 9)
            if space > 0 and buf[:space].isdigit() and int(buf[:space]) <= MAX_MESSAGE:
                end = space + 1 + int(buf[:space])
                if end > len(buf):
                    break
                out.append(bytes(buf[space + 1 : end]))
                del buf[:end]
                continue
        nl = buf.find(b"\n")
        if nl < 0 and len(buf) > MAX_MESSAGE:  # no end in sight: cut, memory stays bounded
            out.append(bytes(buf[:MAX_MESSAGE]))
            del buf[:MAX_MESSAGE]
            continue
        if nl < 0:
            break
        out.append(bytes(buf[:nl]))
        del buf[: nl + 1]
    if final and buf:
        out.append(bytes(buf))
        buf.clear()
    return [m for m in out if m.strip(b"\r\n\0")]


class _Spool:
    """Append-only spool files ``syslog-NNNNNNNN.spool``, a new one past ``segment_bytes``."""

    def __init__(self, folder: Path, segment_bytes: int) -> None:
        self.folder, self.segment_bytes = folder, segment_bytes
        folder.mkdir(parents=True, exist_ok=True)
        existing = sorted(folder.glob(SPOOL_PATTERN))
        self.number = int(existing[-1].stem.split("-")[1]) if existing else 1
        self.fd = self._open()
        size = os.fstat(self.fd).st_size
        if size:  # a crash in the middle of a write: the cut message was never stored
            last = os.pread(self.fd, min(size, MAX_MESSAGE * 2), max(0, size - MAX_MESSAGE * 2))
            keep = size - len(last) + last.rfind(b"\n") + 1
            if keep < size:
                os.ftruncate(self.fd, keep)

    def _open(self) -> int:
        path = self.folder / f"syslog-{self.number:08d}.spool"
        return os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)

    def write(self, lines: list[bytes]) -> None:
        data = b"".join(lines)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        os.fsync(self.fd)
        if os.fstat(self.fd).st_size >= self.segment_bytes:
            os.close(self.fd)
            self.number += 1
            self.fd = self._open()
            fd = os.open(self.folder, os.O_RDONLY)
            try:  # the new file's name is durable before anything is acknowledged in it
                os.fsync(fd)
            finally:
                os.close(fd)

    def close(self) -> None:
        os.close(self.fd)


class SyslogReceiver:
    """Receive syslog on ``udp`` and/or ``tcp`` (``HOST:PORT``; port 0: any free one, see
    :attr:`addresses`) into a spool under ``spool_dir``, followed as a :class:`WatchInput`.

    Receiving starts at construction (so nothing sent meanwhile is refused) and goes on between
    polls; the checkpoint is the spool follower's. :meth:`release` removes spool files a
    committed checkpoint has read to their end.
    """

    def __init__(
        self,
        spool_dir: str | os.PathLike[str],
        *,
        udp: str | None = None,
        tcp: str | None = None,
        segment_bytes: int = SEGMENT_BYTES,
    ) -> None:
        if udp is None and tcp is None:
            raise InputError("syslog receiver: give a UDP or a TCP address")
        self.spool_dir = Path(spool_dir)
        self.name = "syslog:" + ",".join(
            f"{proto}:{addr}" for proto, addr in (("udp", udp), ("tcp", tcp)) if addr
        )
        self._spool = _Spool(self.spool_dir, segment_bytes)
        self._follow = FileInput(str(self.spool_dir / SPOOL_PATTERN))
        self._follow.name = self.name
        self._selector = selectors.DefaultSelector()
        self._sockets: list[socket.socket] = []
        self.addresses: dict[str, tuple[str, int]] = {}
        self.errors: list[str] = []  # what went wrong while receiving (a failed write stops it)
        try:
            if udp:
                self._bind("udp", parse_address(udp))
            if tcp:
                self._bind("tcp", parse_address(tcp))
        except OSError as exc:
            self._close_sockets()
            self._spool.close()
            raise InputError(f"syslog receiver: cannot listen: {exc.strerror or exc}") from None
        self._conns: dict[socket.socket, _Conn] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="escudo-syslog", daemon=True)
        self._thread.start()

    @classmethod
    def from_urls(
        cls, urls: list[str], spool_dir: str | os.PathLike[str], segment_bytes: int = SEGMENT_BYTES
    ) -> SyslogReceiver:
        """A receiver on ``udp://HOST:PORT`` and/or ``tcp://HOST:PORT`` (one of each at most).

        >>> import tempfile
        >>> r = SyslogReceiver.from_urls(["udp://127.0.0.1:0"], tempfile.mkdtemp()); r.name
        'syslog:udp:127.0.0.1:0'
        >>> r.close(); SyslogReceiver.from_urls(["http://x:1"], "spool")
        Traceback (most recent call last):
        escudo.errors.InputError: syslog input 'http://x:1': expected udp://HOST:PORT or tcp://HOST:PORT
        """
        addresses: dict[str, str] = {}
        for url in urls:
            scheme, sep, address = url.partition("://")
            if not sep or scheme not in ("udp", "tcp") or scheme in addresses:
                raise InputError(
                    f"syslog input {url!r}: expected udp://HOST:PORT or tcp://HOST:PORT"
                    + (" (one of each)" if scheme in addresses else "")
                )
            parse_address(address)
            addresses[scheme] = address
        udp, tcp = addresses.get("udp"), addresses.get("tcp")
        return cls(spool_dir, udp=udp, tcp=tcp, segment_bytes=segment_bytes)

    def _bind(self, proto: str, address: tuple[str, int]) -> None:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
        sock = socket.socket(family, kind)
        self._sockets.append(sock)
        if proto == "tcp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        else:  # room for bursts between the thread's reads: UDP drops what does not fit
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind(address)
        if proto == "tcp":
            sock.listen(64)
        sock.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ, proto)
        self.addresses[proto] = sock.getsockname()[:2]

    # -- receiving (the thread) -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                lines: list[bytes] = []
                for key, _ in self._selector.select(timeout=0.2):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if key.data == "udp":
                        self._receive_udp(sock, lines)
                    elif key.data == "tcp":
                        self._accept(sock)
                    else:
                        self._receive_tcp(sock, lines)
                if lines:
                    self._spool.write(lines)
        except OSError as exc:  # the spool cannot be written: stop receiving (reported)
            self.errors.append(f"syslog receiver stopped: {exc.strerror or exc}")

    def _receive_udp(self, sock: socket.socket, lines: list[bytes]) -> None:
        for _ in range(1024):
            try:
                data, addr = sock.recvfrom(UDP_MAX)
            except BlockingIOError:
                return
            if data.strip(b"\r\n\0"):
                lines.append(to_line(data, addr[0]))

    def _accept(self, sock: socket.socket) -> None:
        try:
            conn, addr = sock.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self._conns[conn] = _Conn(addr[0])
        self._selector.register(conn, selectors.EVENT_READ, "conn")

    def _receive_tcp(self, sock: socket.socket, lines: list[bytes]) -> None:
        conn = self._conns[sock]
        try:
            data = sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            conn.buf += data
        for message in frames(conn.buf, final=not data):
            lines.append(to_line(message, conn.peer))
        if not data:
            self._selector.unregister(sock)
            del self._conns[sock]
            sock.close()

    # -- the WatchInput protocol ------------------------------------------------------------------

    def restore(self, state: Checkpoint | None) -> None:
        self._follow.restore(state)
        self.release(state)

    def poll(self, max_bytes: int) -> list[Piece]:
        return self._follow.poll(max_bytes)

    def checkpoint(self) -> Checkpoint:
        return self._follow.checkpoint()

    def release(self, committed: Checkpoint | None) -> None:
        """Remove the spool files ``committed`` (a checkpoint the loop has committed) read to
        their end, except the one being written."""
        current = f"syslog-{self._spool.number:08d}.spool"
        for entry in [] if committed is None else committed.get("files", []):  # type: ignore[attr-defined]
            path = Path(str(entry["path"]))
            if path.name == current or path.parent != self.spool_dir:
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (entry["dev"], entry["ino"]) and st.st_size == entry[
                "offset"
            ]:
                path.unlink()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in list(self._conns):
            sock.close()
        self._conns.clear()
        self._close_sockets()
        self._spool.close()
        self._follow.close()

    def _close_sockets(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()
        self._selector.close()
