"""``escudo watch`` (follow live logs, run detections every batch or on their schedules, deliver
each alert once) and ``escudo status`` (what a watcher is doing).

Exit codes: 0 after SIGTERM or Ctrl-C (the batch under way is finished and committed first), or
once stdin (``-``, the only input) is closed and its lines committed; 2
on errors found before the loop starts (options, config, a state folder another watcher holds).
A batch that fails (an output refusing it) is retried and counted in the status, not fatal.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from escudo.cli.options import content_option, emit_option
from escudo.errors import InputError
from escudo.outputs.hec_options import add_hec_options
from escudo.watch.config import WatchConfig, load_config

DEFAULT_INTERVAL = 5.0


def default_state_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir("escudo")) / "watch"


def merged_config(ctx: click.Context, config_file: Path | None, **options: Any) -> WatchConfig:
    """The config file's settings, with what the command line gave explicitly on top."""
    config = load_config(config_file) if config_file is not None else WatchConfig()

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE

    if options["paths"] or options["listen"]:
        config.inputs = [
            {"type": "stdin"} if p == "-" else {"type": "file", "path": p} for p in options["paths"]
        ] + [listen_entry(url) for url in options["listen"]]
    for name, key in (
        ("state", "state"),
        ("interval", "interval"),
        ("schedule", "schedule"),
        ("store", "store"),
        ("status_port", "status_port"),
        ("sourcetype", "sourcetype"),
    ):
        if given(name) or (config_file is None and options[name] is not None):
            setattr(config, key, options[name])
    if options["content_dirs"]:
        config.content = list(options["content_dirs"])
    if options["detection_refs"]:
        config.detections = list(options["detection_refs"])
    emit = options["emit_kind"]
    if options["output"]:
        config.outputs.append(
            {"type": "file", "path": options["output"], "format": options["fmt"], "emit": emit}
        )
    if options["syslog_url"]:
        config.outputs.append({"type": "syslog", "url": options["syslog_url"], "emit": emit})
    if options["webhook_url"]:
        config.outputs.append({"type": "webhook", "url": options["webhook_url"], "emit": emit})
    if not config.inputs:
        raise click.UsageError(
            "give PATH... (logs to follow), --listen URL or --config FILE with [[inputs]]"
        )
    return config


def open_input(entry: dict[str, Any], sourcetype: str | None, state: Path) -> Any:
    """The ``WatchInput`` a config ``[[inputs]]`` entry describes (a syslog receiver spools
    under the state folder)."""
    kind = entry["type"]
    if kind == "file":
        from escudo.watch.files import FileInput

        return FileInput(str(entry["path"]), sourcetype=entry.get("sourcetype", sourcetype))
    if kind == "stdin":
        from escudo.watch.stdin import StdinInput

        return StdinInput()
    if kind == "journald":
        from escudo.watch.journald import JournaldInput

        return JournaldInput([str(a) for a in entry.get("args", [])])
    from escudo.watch.syslog import SyslogReceiver

    udp, tcp = entry.get("udp"), entry.get("tcp")
    spool = state / "syslog" / _slug(f"udp={udp} tcp={tcp}")
    return SyslogReceiver(spool, udp=udp, tcp=tcp)


def listen_entry(url: str) -> dict[str, Any]:
    """``--listen udp://HOST:PORT`` or ``tcp://HOST:PORT`` as a syslog ``[[inputs]]`` entry."""
    scheme, sep, address = url.partition("://")
    if not sep or scheme not in ("udp", "tcp") or not address:
        raise InputError(f"--listen must be udp://HOST:PORT or tcp://HOST:PORT, not {url!r}")
    return {"type": "syslog", scheme: address}


def open_output(
    entry: dict[str, Any], state: Path, fmt_fallback: str, csv_safe: bool, hec: dict[str, Any]
) -> Any:
    """The ``WatchOutput`` a config ``[[outputs]]`` entry describes."""
    from escudo.outputs import OutputOptions
    from escudo.watch import outputs

    kind, emit = entry["type"], outputs.emit_kind(entry.get("emit", "results"))
    if kind == "file":
        path = Path(entry["path"])
        from escudo.cli.options import check_output_path

        check_output_path(path, "--output")
        return outputs.FileOutput(
            path, entry.get("format", fmt_fallback), emit, OutputOptions(csv_safe=csv_safe)
        )
    if kind == "syslog":
        from escudo.outputs.syslog import SyslogSender

        log = state / "delivery" / f"syslog-{_slug(entry['url'])}.log"
        return outputs.SyslogOutput(SyslogSender(entry["url"]), emit, log)
    if kind == "webhook":
        from escudo.outputs.webhook import WebhookSender

        log = state / "delivery" / f"webhook-{_slug(entry['url'])}.log"
        return outputs.WebhookOutput(WebhookSender(entry["url"]), emit, log)
    from escudo.outputs.hec import hec_from_options

    options = {**hec, "hec_url": entry["url"]}
    if "token" in entry:
        options["hec_token"] = entry["token"]
    if "index" in entry:
        options["hec_index"] = entry["index"]
    hec_sender = hec_from_options(**options)
    assert hec_sender is not None
    return outputs.HecOutput(hec_sender)


def _slug(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


@click.command()
@click.argument("paths", nargs=-1)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="TOML file with inputs, content, detections, outputs, store and state (see README); "
    "options given here win over it.",
)
@click.option(
    "--listen",
    multiple=True,
    metavar="udp://HOST:PORT|tcp://HOST:PORT",
    help="Receive syslog (RFC 3164 or 5424; TCP octet-counted or newline framed) and follow "
    "what arrives (repeatable).",
)
@click.option(
    "--detection",
    "detection_refs",
    multiple=True,
    metavar="NAME|ID|FILE",
    help="Run only this detection (repeatable). Default: every detection the inputs feed.",
)
@content_option()
@click.option(
    "--state",
    type=click.Path(path_type=Path, file_okay=False),
    help="State folder: checkpoints, the commit record, the batch under way, status "
    "(default: the user's state directory).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=DEFAULT_INTERVAL,
    show_default=True,
    help="Seconds between micro-batches.",
)
@click.option(
    "--schedule",
    is_flag=True,
    help="Run each detection on its ESCU schedule (cron, earliest/latest) over the store "
    "instead of micro-batches; needs --store.",
)
@emit_option("Deliver")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="How rows are written to --output or stdout.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    help="Append rows to this file (else stdout, when no other output is given).",
)
@click.option("--csv-safe", is_flag=True, help="CSV: escape cells a spreadsheet would run.")
@click.option(
    "--store",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep results, risk events and findings in this store (with --schedule: events too).",
)
@click.option(
    "--syslog-url",
    metavar="tcp://HOST:PORT|udp://HOST:PORT",
    help="Send each row as an RFC 5424 syslog message.",
)
@click.option("--webhook-url", metavar="URL", help="POST rows as JSON to this URL (retried).")
@click.option(
    "--status-port",
    type=click.IntRange(min=0, max=65535),
    default=None,
    help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics.",
)
@click.option(
    "--sourcetype",
    default=None,
    metavar="NAME",
    help="Read every input as this sourcetype (default: found per file from its content).",
)
@add_hec_options
@click.pass_context
def watch(
    ctx: click.Context,
    paths: tuple[str, ...],
    config_file: Path | None,
    listen: tuple[str, ...],
    detection_refs: tuple[str, ...],
    content_dirs: tuple[Path, ...],
    state: Path | None,
    interval: float,
    schedule: bool,
    emit_kind: str,
    fmt: str,
    output: str | None,
    csv_safe: bool,
    store: Path | None,
    syslog_url: str | None,
    webhook_url: str | None,
    status_port: int | None,
    sourcetype: str | None,
    **hec: Any,
) -> int:
    """Follow log files (like tail -F) and run detections over what arrives, delivering every
    alert exactly once across crashes and restarts."""
    config = merged_config(
        ctx,
        config_file,
        paths=paths,
        listen=listen,
        detection_refs=detection_refs,
        content_dirs=content_dirs,
        state=state,
        interval=interval,
        schedule=schedule,
        emit_kind=emit_kind,
        fmt=fmt,
        output=output,
        store=store,
        syslog_url=syslog_url,
        webhook_url=webhook_url,
        status_port=status_port,
        sourcetype=sourcetype,
    )
    if hec.get("hec_url"):
        config.outputs.append({"type": "hec", "url": hec["hec_url"]})
    state_dir = config.state or default_state_dir()
    if config.schedule and config.store is None:
        raise InputError("--schedule runs detections over the store: give --store DIR")
    return run_watch(config, state_dir, fmt, csv_safe, hec, emit_kind)


def run_watch(
    config: WatchConfig,
    state_dir: Path,
    fmt: str,
    csv_safe: bool,
    hec: dict[str, Any],
    emit_kind: str,
) -> int:
    from escudo._session import Session
    from escudo.outputs import OutputOptions
    from escudo.watch import outputs
    from escudo.watch.loop import Runner, WatchLoop
    from escudo.watch.state import StateDir
    from escudo.watch.status import StatusServer

    def make_session() -> Session:
        return Session(
            content_dirs=config.content,
            detections=config.detections,
            store=config.store,
            sourcetype=config.sourcetype,
        )

    sinks = [open_output(o, state_dir, fmt, csv_safe, hec) for o in config.outputs]
    if not any(o["type"] in ("file", "syslog", "webhook") for o in config.outputs):
        sinks.append(
            outputs.StreamOutput(
                sys.stdout.buffer, fmt, outputs.emit_kind(emit_kind), OutputOptions(csv_safe)
            )
        )
    runner = Runner(make_session)
    for warning in runner.warnings:
        click.echo(f"escudo: {warning}", err=True)
    state = StateDir(state_dir)
    state.lock()  # before the inputs: a syslog receiver spools in it
    inputs = [open_input(i, config.sourcetype, state_dir) for i in config.inputs]
    loop: Any
    if config.schedule:
        from escudo.watch.schedule import ScheduleLoop

        loop = ScheduleLoop(inputs, runner, sinks, state, interval=config.interval)
    else:
        loop = WatchLoop(inputs, runner, sinks, state, interval=config.interval)
    loop.on_error = lambda text: click.echo(f"escudo: {text}", err=True)
    loop.start()
    server = None
    try:
        if config.status_port is not None:  # 0: any free port (printed below)
            server = StatusServer(loop.status.to_json, config.status_port)
            server.start()
        where = f", status on 127.0.0.1:{server.port}/metrics" if server is not None else ""
        click.echo(f"escudo: watching {len(inputs)} input(s), state {state_dir}{where}", err=True)
        signal.signal(signal.SIGTERM, lambda *_: loop.stop())
        signal.signal(signal.SIGINT, lambda *_: loop.stop())
        signal.signal(signal.SIGHUP, lambda *_: loop.reload_event.set())
        loop.run()
    finally:
        if server is not None:
            server.close()
        loop.close()
    click.echo(f"escudo: stopped after batch {loop.status.last_batch}", err=True)
    return 0


@click.command()
@click.option(
    "--state",
    type=click.Path(path_type=Path, file_okay=False),
    help="The state folder of the watcher (default: the user's).",
)
@click.option("--prometheus", is_flag=True, help="Print the Prometheus text instead.")
def status(state: Path | None, prometheus: bool) -> int:
    """What an `escudo watch` is doing: last batch, events/s, lag, errors."""
    from escudo.watch.state import StateDir
    from escudo.watch.status import prometheus_text, summary

    current = StateDir(state or default_state_dir()).read_status()
    click.echo(prometheus_text(current) if prometheus else summary(current), nl=not prometheus)
    return 0
