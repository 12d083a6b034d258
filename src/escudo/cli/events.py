"""``escudo events``: the ingest stage made visible (read logs, print normalized CIM rows)."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pyarrow as pa

from escudo.cli.output import check_output, output_options, strict_exit, write_output
from escudo.datamodels.normalize import dataset_schema, read_dataset
from escudo.errors import InputError
from escudo.outputs import Section
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
@output_options("jsonl")
@click.option(
    "--sourcetype",
    default=None,
    help="Read every input as this sourcetype (default: found per file from its content).",
)
@click.option(
    "--fields",
    "-F",
    default=None,
    help="Comma-separated columns to keep, in this order (default: every field of the data set).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 2 when an input could not be read or a line was malformed or not UTF-8 text.",
)
def events(
    paths: tuple[str, ...],
    datamodel: str,
    fmt: str,
    output: str | None,
    csv_safe: bool,
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
    check_output(fmt, output)
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
    write_output([Section(None, schema, batches)], fmt, output, csv_safe)
    click.echo(stats.summary(), err=True)
    return strict_exit(stats, strict)
