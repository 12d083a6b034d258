"""Sourcetypes escudo reads, as a table: add a source by adding a row.

>>> SOURCETYPES["sysmon:linux"].source
'Syslog:Linux-Sysmon/Operational'
>>> get_sourcetype(None).name
'sysmon:linux'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from escudo.errors import InputError
from escudo.sources import sysmon
from escudo.sources.base import RawFilter
from escudo.sources.reader import Processor
from escudo.sources.sysmon_fast import in_layout_order


@dataclass(frozen=True)
class SourceType:
    """A sourcetype: its Splunk ``source`` value, its raw fields, and how to build a chunk processor.

    ``plan(fields, record_types, raw_filter, extractor)`` returns a picklable processor;
    ``record_types`` selects records (Sysmon: EventIDs), None for all.
    """

    name: str
    source: str
    all_fields: tuple[str, ...]
    plan: Callable[[tuple[str, ...], frozenset[int] | None, RawFilter | None, str], Processor]
    description: str = ""


def _sysmon_plan(
    fields: tuple[str, ...],
    record_types: frozenset[int] | None,
    raw_filter: RawFilter | None,
    extractor: str,
) -> Processor:
    ordered = in_layout_order(fields, record_types)
    return sysmon.SysmonPlan(ordered, record_types, raw_filter, extractor)


SOURCETYPES: dict[str, SourceType] = {
    s.name: s
    for s in (
        SourceType(
            name=sysmon.SOURCETYPE,
            source=sysmon.SOURCE,
            all_fields=sysmon.ALL_FIELDS,
            plan=_sysmon_plan,
            description="Sysmon for Linux XML events in syslog, journald JSON or bare lines",
        ),
    )
}

DEFAULT_SOURCETYPE = sysmon.SOURCETYPE


def get_sourcetype(name: str | None) -> SourceType:
    """Look a sourcetype up; None means the default (``sysmon:linux``)."""
    key = DEFAULT_SOURCETYPE if name is None else name
    try:
        return SOURCETYPES[key]
    except KeyError:
        known = ", ".join(sorted(SOURCETYPES))
        raise InputError(f"unknown sourcetype {key!r} (known: {known})") from None
