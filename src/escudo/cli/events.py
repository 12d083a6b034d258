"""``escudo events``: the ingest stage made visible (read logs, print normalized CIM rows)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import click
import pyarrow as pa

from escudo.cli.options import check_output_path
from escudo.datamodels.normalize import dataset_schema, read_dataset
from escudo.errors import InputError
from escudo.outputs import WRITERS, write_batches
from escudo.sources.base import ReadStats


@click.command("events")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--datamodel",
    "-d",
    default="Endpoint.Processes",
    show_default=True,
    help="CIM data set (Endpoint.Processes, Endpoint.Filesystem, Network_Traffic.All_Traffic) or 'raw'.",
)
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(sorted(WRITERS)),
    default="jsonl",
    show_default=True,
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), help="Write here instead of stdout."
)
@click.option("--sourcetype", default=None, help="Sourcetype of the inputs (default sysmon:linux).")
@click.option(
    "--fields",
    "-F",
    default=None,
    help="Comma-separated columns to keep, in this order (default: every field of the data set).",
)
@click.option("--strict", is_flag=True, help="Exit 2 when any record was malformed.")
def events(
    paths: tuple[str, ...],
    datamodel: str,
    fmt: str,
    output: str | None,
    sourcetype: str | None,
    fields: str | None,
    strict: bool,
) -> int:
    """Read Sysmon for Linux logs (files, directories, .gz, '-' for stdin) and print CIM rows.

    \b
    Examples:
      escudo events /var/log/syslog --datamodel Endpoint.Processes --format table
      escudo events logs/ -F _time,dest,user,process_name,process -f csv -o out.csv
    """
    if fmt == "parquet" and output is None:
        raise InputError("--format parquet needs --output FILE")
    check_output_path(output, "--output")
    schema = dataset_schema(datamodel, sourcetype)
    stats = ReadStats()
    batches: Iterator[pa.RecordBatch] = read_dataset(
        paths, datamodel, stats=stats, sourcetype=sourcetype
    )
    if fields:
        keep = [f.strip() for f in fields.split(",") if f.strip()]
        unknown = [f for f in keep if f not in schema.names]
        if unknown:
            raise InputError(f"--fields: {', '.join(unknown)} not in {datamodel}")
        schema = pa.schema([schema.field(f) for f in keep])
        batches = (b.select(keep) for b in batches)
    out = output if output is not None else sys.stdout.buffer
    write_batches(batches, fmt, out, schema=schema)
    if output is None:
        sys.stdout.buffer.flush()  # rows before the summary on a shared terminal
    click.echo(stats.summary(), err=True)
    if strict and (stats.malformed or stats.invalid_utf8):
        return 2
    return 0
