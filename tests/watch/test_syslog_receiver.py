"""The syslog receiver: RFC 3164 and 5424 over UDP and TCP (octet-counted and newline framing),
spooled durably and followed; messages from a real rsyslogd arrive once each, payload intact."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sysmon_events import event_xml

from escudo.datamodels.normalize import read_dataset
from escudo.errors import InputError
from escudo.watch.base import Piece, WatchInput
from escudo.watch.syslog import MAX_MESSAGE, SyslogReceiver, frames, to_line

WAIT = 30.0  # seconds a message may take to arrive on a loaded machine (a wait, not a measure)


def receive(receiver: SyslogReceiver, count: int, pieces: list[Piece] | None = None) -> list[bytes]:
    """Poll until ``count`` lines came (or the wait is over), then once more for any extra."""
    got: list[Piece] = [] if pieces is None else pieces
    deadline = time.monotonic() + WAIT
    while sum(p.data.count(b"\n") for p in got) < count and time.monotonic() < deadline:
        got.extend(receiver.poll(1 << 20))
        time.sleep(0.02)
    time.sleep(0.3)
    got.extend(receiver.poll(1 << 20))
    return [line for p in got for line in p.data.splitlines()]


def test_rfc5424_becomes_a_file_format_line() -> None:
    msg = b'<14>1 2024-03-11T09:15:21.618Z web-01 sysmon 812 ID47 [x@1 a="q\\"]" b="\\]"][y@2] body'
    assert to_line(msg, "10.0.0.1") == b"2024-03-11T09:15:21.618Z web-01 sysmon[812]: body\n"
    assert to_line(b"<14>1 - - - - - -", "10.0.0.1", now=0) == (
        b"1970-01-01T00:00:00Z 10.0.0.1 -: \n"
    )


def test_rfc3164_loses_only_its_priority() -> None:
    line = b"<13>Mar  1 09:15:21 web-01 sysmon[5]: <Event> a\tb \\ \xc3\xa9</Event>"
    assert to_line(line + b"\n", "10.0.0.1") == line[4:] + b"\n"


def test_a_message_without_header_gets_a_relay_header() -> None:
    assert to_line(b"<13>no header", "10.0.0.7", now=86400 * 40) == (
        b"Feb 10 00:00:00 10.0.0.7 no header\n"
    )
    assert to_line(b"two\nlines", "h", now=0) == b"Jan  1 00:00:00 h two#012lines\n"


def test_tcp_framing_octet_counted_and_newline_mixed() -> None:
    buf = bytearray(b"3 abc\n<1>line one\n12 <1>two\nthree")
    assert frames(buf) == [b"abc", b"<1>line one", b"<1>two\nthree"]
    assert buf == b""
    buf = bytearray(b"<1>unterminated")
    assert frames(buf) == [] and frames(buf, final=True) == [b"<1>unterminated"]
    buf = bytearray(b"x" * (MAX_MESSAGE + 10))  # no newline: cut, not buffered forever
    assert frames(buf) == [b"x" * MAX_MESSAGE] and buf == b"x" * 10


def test_is_a_watch_input_and_needs_an_address(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="give a UDP or a TCP address"):
        SyslogReceiver(tmp_path)
    receiver = SyslogReceiver(tmp_path, udp="127.0.0.1:0")
    try:
        assert isinstance(receiver, WatchInput)
        assert receiver.name == "syslog:udp:127.0.0.1:0"
    finally:
        receiver.close()


def test_port_in_use_is_an_input_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InputError, match="cannot listen"):
            SyslogReceiver(tmp_path, tcp=f"127.0.0.1:{port}")


def test_udp_and_tcp_direct(tmp_path: Path) -> None:
    receiver = SyslogReceiver(tmp_path / "spool", udp="127.0.0.1:0", tcp="127.0.0.1:0")
    try:
        receiver.restore(None)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"<14>Mar 11 09:15:21 h1 app: udp one\n", receiver.addresses["udp"])
        with socket.create_connection(receiver.addresses["tcp"]) as tcp:
            framed = b"<14>Mar 11 09:15:21 h3 app: x"
            tcp.sendall(
                b"<14>Mar 11 09:15:21 h2 app: tcp newline\n%d %s" % (len(framed), framed[:9])
            )
            tcp.sendall(framed[9:])  # an octet-counted frame across two sends
        got = receive(receiver, 3)
        assert sorted(got) == [
            b"Mar 11 09:15:21 h1 app: udp one",
            b"Mar 11 09:15:21 h2 app: tcp newline",
            b"Mar 11 09:15:21 h3 app: x",
        ]
    finally:
        receiver.close()


def test_spool_survives_a_restart_and_resumes_at_the_checkpoint(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    receiver = SyslogReceiver(spool, tcp="127.0.0.1:0", segment_bytes=200)
    receiver.restore(None)
    with socket.create_connection(receiver.addresses["tcp"]) as tcp:
        for i in range(10):
            tcp.sendall(b"<14>Mar 11 09:15:21 h app: message %d\n" % i)
    first = receive(receiver, 10)
    assert len(first) == 10
    state = json.loads(json.dumps(receiver.checkpoint()))
    with socket.create_connection(receiver.addresses["tcp"]) as tcp:
        tcp.sendall(b"<14>Mar 11 09:15:21 h app: after the checkpoint\n")
    assert receive(receiver, 1) == [b"Mar 11 09:15:21 h app: after the checkpoint"]
    receiver.close()  # a crash after that poll: its line was not committed
    assert len(list(spool.glob("syslog-*.spool"))) > 1  # segments of 200 bytes
    again = SyslogReceiver(spool, tcp="127.0.0.1:0", segment_bytes=200)
    try:
        again.restore(state)  # segments read to their end by the committed checkpoint go
        assert len(list(spool.glob("syslog-*.spool"))) <= 2
        assert receive(again, 1) == [b"Mar 11 09:15:21 h app: after the checkpoint"]
    finally:
        again.close()


def test_a_cut_last_write_is_dropped_at_start(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "syslog-00000001.spool").write_bytes(b"Mar 11 09:15:21 h app: whole\nMar 11 09:1")
    receiver = SyslogReceiver(spool, udp="127.0.0.1:0")
    try:
        receiver.restore(None)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"<14>Mar 11 09:15:22 h app: next", receiver.addresses["udp"])
        got = receive(receiver, 2)
        assert got == [b"Mar 11 09:15:21 h app: whole", b"Mar 11 09:15:22 h app: next"]
    finally:
        receiver.close()


@pytest.mark.parametrize(
    ("protocol", "rfc", "framing"),
    [
        ("tcp", "5424", "octet-counted"),
        ("tcp", "3164", "traditional"),
        ("tcp", "3164", "octet-counted"),
        ("udp", "5424", ""),
        ("udp", "3164", ""),
    ],
)
def test_messages_from_rsyslogd_arrive_once_each(
    tmp_path: Path,
    rsyslogd: Callable[..., Any],
    protocol: str,
    rfc: str,
    framing: str,
) -> None:
    receiver = SyslogReceiver(tmp_path / "spool", **{protocol: "127.0.0.1:0"})  # type: ignore[arg-type]
    try:
        receiver.restore(None)
        port = receiver.addresses[protocol][1]
        daemon = rsyslogd(protocol, port, rfc, framing or "octet-counted")
        payloads = [
            event_xml({"CommandLine": f"/tmp/ngrok tcp {i} & echo \"é\" '\\' [x]"}, record=i)
            for i in range(20)
        ]
        for payload in payloads:
            daemon.log(payload)
        got = receive(receiver, len(payloads))
        assert len(got) == len(payloads)
        # each payload once, byte for byte, after a header the readers accept (rsyslog's msg
        # property keeps the blank after "sysmon:" of the message logger sent)
        bodies = sorted(line.split(b" sysmon: ", 1)[1].removeprefix(b" ") for line in got)
        assert bodies == sorted(p.encode() for p in payloads)
        spool_files = sorted((tmp_path / "spool").glob("syslog-*.spool"))
        rows = [r for b in read_dataset(spool_files, "Endpoint.Processes") for r in b.to_pylist()]
        assert len(rows) == len(payloads)
        assert {r["process_id"] for r in rows} == {"41233"}
        assert {r["host"] for r in rows} == {socket.gethostname()}
    finally:
        receiver.close()


CHILD = """
import json, sys, time
from escudo.watch.syslog import SyslogReceiver
receiver = SyslogReceiver(sys.argv[1], tcp="127.0.0.1:" + sys.argv[2])
receiver.restore(None)
handed = 0
with open(sys.argv[3], "a") as log:
    print("ready", file=log, flush=True)
    while True:
        pieces = receiver.poll(1 << 20)
        if pieces:
            handed += sum(p.data.count(b"\\n") for p in pieces)
            print(json.dumps({"lines": handed, "checkpoint": receiver.checkpoint()}), file=log, flush=True)
        time.sleep(0.02)
"""


def test_kill_9_then_restart_from_the_checkpoint_with_rsyslogd(
    tmp_path: Path, rsyslogd: Callable[..., Any]
) -> None:
    """A receiver killed with SIGKILL after handing out batch A; batch B logged while it is
    down (rsyslogd's action queue keeps it); restarted from its last checkpoint on the same
    spool and port: B arrives, once, and nothing of A again."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spool, progress = tmp_path / "spool", tmp_path / "progress"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(spool), str(port), str(progress)])
    try:
        until(lambda: progress.exists() and progress.read_text().startswith("ready"))
        daemon = rsyslogd("tcp", port, "5424")
        first = [f"batch A {i}" for i in range(10)]
        for message in first:
            daemon.log(message)
        until(lambda: '"lines": 10,' in progress.read_text())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    state = json.loads(progress.read_text().splitlines()[-1])["checkpoint"]
    second = [f"batch B {i}" for i in range(10)]
    for message in second:
        daemon.log(message)
    receiver = SyslogReceiver(spool, tcp=f"127.0.0.1:{port}")
    try:
        receiver.restore(state)
        got = receive(receiver, len(second))
    finally:
        receiver.close()
    assert sorted(line.split(b" sysmon: ", 1)[1].strip() for line in got) == [
        m.encode() for m in second
    ]


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "waited too long"
        time.sleep(0.05)
