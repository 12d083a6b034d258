"""``escudo watch --config FILE``: the TOML file a service runs with (README, "escudo watch").

Every key is optional; an option given on the command line wins over the file's. Unknown keys are
an error naming them (a typo must not be a silently ignored setting)::

    state = "/var/lib/escudo/watch"      # the state folder (checkpoints, commit record, status)
    interval = 5                         # seconds between micro-batches
    schedule = false                     # true: each detection on its ESCU schedule (needs store)
    content = ["/etc/escudo/content"]    # content folders added to the shipped ones
    detections = []                      # names, ids or files (default: all the inputs feed)
    store = "/var/lib/escudo/store"      # keep results, risk, findings (and events: schedule)
    status_port = 9479                   # Prometheus text on 127.0.0.1:PORT/metrics
    sourcetype = "sysmon:linux"          # read every input as this (default: sniffed)

    [[inputs]]                           # type: file (default), stdin, journald, syslog
    path = "/var/log/syslog*"
    [[inputs]]
    type = "syslog"                      # a receiver: udp and/or tcp = "HOST:PORT"
    tcp = "0.0.0.0:6514"
    [[inputs]]
    type = "journald"                    # journalctl -f -o json, with these arguments
    args = ["-u", "sysmon.service"]

    [[outputs]]                          # type: file, syslog, webhook, hec
    type = "file"
    path = "/var/log/escudo/alerts.jsonl"
    format = "jsonl"                     # jsonl or csv
    emit = "results"                     # results, risk or findings

>>> text = 'interval = 2\\n[[inputs]]\\npath = "/var/log/x.log"\\n'
>>> config = parse_config(text, "watch.toml")
>>> config.interval, config.inputs
(2.0, [{'type': 'file', 'path': '/var/log/x.log'}])
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from escudo.errors import InputError

INPUT_TYPES = ("file", "stdin", "journald", "syslog")
OUTPUT_TYPES = ("file", "syslog", "webhook", "hec")
EMITS = ("results", "risk", "findings")
FORMATS = ("jsonl", "csv")


@dataclass
class WatchConfig:
    """What ``escudo watch`` runs with (command line and config file merged)."""

    state: Path | None = None
    interval: float = 5.0
    schedule: bool = False
    content: list[Path] = field(default_factory=list)
    detections: list[str] = field(default_factory=list)
    store: Path | None = None
    status_port: int | None = None
    sourcetype: str | None = None
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)


_TOP = {
    "state": Path,
    "interval": float,
    "schedule": bool,
    "content": list,
    "detections": list,
    "store": Path,
    "status_port": int,
    "sourcetype": str,
    "inputs": list,
    "outputs": list,
}


def parse_config(text: str, origin: str) -> WatchConfig:
    """The config in ``text`` (TOML); errors name ``origin`` and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", path=origin) from None
    config = WatchConfig()
    for key, value in data.items():
        kind = _TOP.get(key)
        if kind is None:
            known = ", ".join(_TOP)
            raise InputError(f"unknown key {key!r} (known: {known})", path=origin)
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            value = float(value)
        elif kind is Path and isinstance(value, str):
            value = Path(value)
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise InputError(f"{key}: expected {kind.__name__}, got {value!r}", path=origin)
        setattr(config, key, value)
    config.content = [Path(p) for p in config.content]
    config.detections = [str(d) for d in config.detections]
    config.inputs = [_entry(i, "inputs", INPUT_TYPES, origin) for i in config.inputs]
    config.outputs = [_entry(o, "outputs", OUTPUT_TYPES, origin) for o in config.outputs]
    for entry in config.inputs:
        if entry["type"] == "file" and "path" not in entry:
            raise InputError("a file input needs path", path=origin)
        if entry["type"] == "syslog" and not (entry.get("udp") or entry.get("tcp")):
            raise InputError("a syslog input needs udp or tcp (HOST:PORT)", path=origin)
    for entry in config.outputs:
        _check_output(entry, origin)
    return config


def load_config(path: Path) -> WatchConfig:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InputError(f"cannot read config: {exc.strerror}", path=str(path)) from None
    return parse_config(text, str(path))


def _entry(value: Any, table: str, types: tuple[str, ...], origin: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"[[{table}]] entries are tables, not {value!r}", path=origin)
    entry = {"type": "file", **value}
    if entry["type"] not in types:
        raise InputError(
            f"[[{table}]] type {entry['type']!r} unknown (known: {', '.join(types)})", path=origin
        )
    return entry


def _check_output(entry: dict[str, Any], origin: str) -> None:
    kind = entry["type"]
    needs = {"file": "path", "syslog": "url", "webhook": "url", "hec": "url"}[kind]
    if needs not in entry:
        raise InputError(f"a {kind} output needs {needs}", path=origin)
    if entry.setdefault("emit", "results") not in EMITS:
        raise InputError(f"emit must be one of {', '.join(EMITS)}", path=origin)
    if kind == "file" and entry.setdefault("format", "jsonl") not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}", path=origin)
