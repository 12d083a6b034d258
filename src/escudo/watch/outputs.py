"""Where ``escudo watch`` delivers each batch, every output idempotent by batch.

A batch is delivered to every output, then committed (``escudo.watch.state``). After a crash the
open batch is delivered again, so each output makes a repeat harmless (docs/semantics.md,
"Exactly once"):

- a file (``--output FILE``, jsonl or csv) is cut back to the size the last commit recorded;
- HEC keys every event by its id and keeps a ledger of those sent (``escudo.outputs.spool``);
- syslog and the webhook log the id of every message they sent for the open batch in
  ``STATE/delivery/<name>.log`` and skip those on the repeat; the log is emptied at commit;
- the store (``--store``) adds only rows whose stable id it lacks (``escudo.detect.store``);
- stdout cannot be cut back: a batch a crash interrupted may be printed twice there.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast

from escudo.outputs import OutputOptions, Section, records_section, write_sections
from escudo.outputs.base import json_default

if TYPE_CHECKING:
    from escudo._session import HuntRun
    from escudo.detect.result import EmitKind
    from escudo.outputs.hec import HecSender
    from escudo.outputs.syslog import SyslogSender
    from escudo.outputs.webhook import WebhookSender


class WatchOutput(Protocol):
    """One destination of the batches."""

    name: str  # stable: it keys the output's position in the commit record

    def recover(self, position: Any) -> None:
        """Go back to ``position`` (what :meth:`position` returned at the last commit; None
        before the first), before the open batch, if any, is delivered again."""

    def deliver(self, batch: int, run: HuntRun) -> None:
        """Deliver batch ``batch`` (raises when the destination did not take it)."""

    def position(self) -> Any:
        """A JSON value recorded in the commit."""

    def committed(self) -> None:
        """The batch is committed (a delivery log can be emptied)."""

    def close(self) -> None: ...


def sections_of(run: HuntRun, emit: EmitKind) -> list[Section]:
    """What ``escudo hunt --emit`` prints, in the same sections."""
    if emit == "results":
        return [Section.of_table(r.detection.name, r.table()) for r in run.results]
    return [records_section(None, run.emitted()[emit])]


def records_of(run: HuntRun, emit: EmitKind) -> list[dict[str, Any]]:
    """The rows of ``emit`` as records, results as ``{"detection": name, **row}``."""
    return run.emitted()[emit]


class FileOutput:
    """``--output FILE``: each batch appended as ``hunt --format jsonl|csv`` writes it (csv: a
    header when the file is empty or the columns change)."""

    def __init__(self, path: Path, fmt: str, emit: EmitKind, options: OutputOptions) -> None:
        self.path = Path(path)
        self.fmt, self.emit, self.options = fmt, emit, options
        self.name = f"file:{self.path}"
        self._header: bytes | None = None

    def recover(self, position: Any) -> None:
        size = self.path.stat().st_size if self.path.exists() else 0
        if position is None:  # a first start: rows go after what the file holds
            return
        if size > int(position["size"]):
            with open(self.path, "r+b") as fh:  # what an uncommitted batch wrote goes
                fh.truncate(int(position["size"]))
                os.fsync(fh.fileno())
        header = position.get("header")
        self._header = header.encode() if header is not None else None

    def deliver(self, batch: int, run: HuntRun) -> None:
        buffer = io.BytesIO()
        if not write_sections(sections_of(run, self.emit), self.fmt, buffer, self.options):
            return
        data = buffer.getvalue()
        if self.fmt == "csv":
            header, _, rows = data.partition(b"\n")
            header += b"\n"
            data = rows if header == self._header else data
            self._header = header
        with open(self.path, "ab") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def position(self) -> Any:
        size = self.path.stat().st_size if self.path.exists() else 0
        header = self._header.decode() if self._header is not None else None
        return {"size": size, "header": header}

    def committed(self) -> None:
        pass

    def close(self) -> None:
        pass


class StreamOutput:
    """Stdout: rows as they come (a repeat after a crash cannot be taken back)."""

    name = "stdout"

    def __init__(self, out: BinaryIO, fmt: str, emit: EmitKind, options: OutputOptions) -> None:
        self.out, self.fmt, self.emit, self.options = out, fmt, emit, options

    def recover(self, position: Any) -> None:
        pass

    def deliver(self, batch: int, run: HuntRun) -> None:
        write_sections(sections_of(run, self.emit), self.fmt, self.out, self.options)
        self.out.flush()

    def position(self) -> Any:
        return None

    def committed(self) -> None:
        pass

    def close(self) -> None:
        pass


class HecOutput:
    """Risk events and findings to Splunk HEC, as ``hunt --hec-url`` sends them. What HEC does not
    take stays in the sender's spool and goes first with the next batch; the batch still commits
    (the spool is the sender's own exactly-once ledger)."""

    def __init__(self, sender: HecSender) -> None:
        self.sender = sender
        self.name = f"hec:{sender.event_url}"
        self.last_report = ""

    def recover(self, position: Any) -> None:
        pass

    def deliver(self, batch: int, run: HuntRun) -> None:
        report = self.sender.send([*run.risk_events, *run.findings])
        self.last_report = report.summary()

    def position(self) -> Any:
        return None

    def committed(self) -> None:
        pass

    def close(self) -> None:
        pass


def message_ids(batch: int, records: Sequence[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Each record with an id stable over a repeat of the batch: a hash of the batch number and
    the record's JSON, plus its rank among equal records (rows come back in any order).

    >>> [i for i, _ in message_ids(3, [{"a": 1}, {"a": 1}])]  # doctest: +ELLIPSIS
    ['3-...-0', '3-...-1']
    """
    seen: dict[str, int] = {}
    out = []
    texts = [json.dumps(r, sort_keys=True, default=json_default) for r in records]
    for text, record in sorted(zip(texts, records, strict=True), key=lambda p: p[0]):
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        rank = seen.get(digest, 0)
        seen[digest] = rank + 1
        out.append((f"{batch}-{digest}-{rank}", record))
    return out


class DeliveryLog:
    """The ids an output sent for the open batch (``STATE/delivery/<name>.log``, one a line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sent: set[str] = set()

    def load(self) -> None:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return
        # A last line without its newline was cut by the crash: not sent for sure, so sent again.
        self.sent = {line for line in text.split("\n")[:-1] if line}

    def add(self, ids: Sequence[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as fh:
            fh.write("".join(f"{i}\n" for i in ids))
            fh.flush()
        self.sent.update(ids)

    def clear(self) -> None:
        self.sent.clear()
        if self.path.exists():
            with open(self.path, "w"):
                pass


class _LoggedOutput:
    """An output whose repeat of a batch skips what its :class:`DeliveryLog` says was sent: no
    position of its own; the log is read back on recovery and emptied once the batch commits."""

    log: DeliveryLog

    def recover(self, position: Any) -> None:
        self.log.load()

    def position(self) -> Any:
        return None

    def committed(self) -> None:
        self.log.clear()


class SyslogOutput(_LoggedOutput):
    """``--syslog-url``: one RFC 5424 message per record of ``emit``."""

    def __init__(self, sender: SyslogSender, emit: EmitKind, log: Path) -> None:
        self.sender, self.emit = sender, emit
        self.name = f"syslog:{sender.url}"
        self.log = DeliveryLog(log)

    def deliver(self, batch: int, run: HuntRun) -> None:
        from escudo.outputs.syslog import format_message

        for message_id, record in message_ids(batch, records_of(run, self.emit)):
            if message_id in self.log.sent:
                continue
            self.sender.send(format_message(record, message_id))
            self.log.add([message_id])

    def close(self) -> None:
        self.sender.close()


class WebhookOutput(_LoggedOutput):
    """``--webhook-url``: the records of ``emit`` POSTed in parts of ``part_size``."""

    def __init__(
        self, sender: WebhookSender, emit: EmitKind, log: Path, *, part_size: int = 100
    ) -> None:
        self.sender, self.emit, self.part_size = sender, emit, part_size
        self.name = f"webhook:{sender.url}"
        self.log = DeliveryLog(log)

    def deliver(self, batch: int, run: HuntRun) -> None:
        ordered = message_ids(batch, records_of(run, self.emit))
        for start in range(0, len(ordered), self.part_size):
            part = ordered[start : start + self.part_size]
            key = hashlib.sha256("".join(i for i, _ in part).encode()).hexdigest()[:32]
            if key in self.log.sent:
                continue
            self.sender.post([r for _, r in part], key)
            self.log.add([key])

    def close(self) -> None:
        pass


def emit_kind(value: str) -> EmitKind:
    from escudo.detect.result import EMIT_KINDS

    if value not in EMIT_KINDS:
        raise ValueError(value)
    return cast("EmitKind", value)
