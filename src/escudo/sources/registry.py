"""Source types escudo reads, as a table: add a source by adding a row to ``SOURCES``.

A source implements :class:`escudo.sources.base.Source`; the one an input is read with is
found from the input's first bytes (:func:`sniff_source`) unless ``--sourcetype`` names it.

>>> SOURCES["sysmon:linux"].source
'Syslog:Linux-Sysmon/Operational'
>>> get_sourcetype(None).name
'sysmon:linux'
>>> sniff_source(b"Oct 24 17:05:38 h sysmon: <Event><System>").name
'sysmon:linux'
"""

from __future__ import annotations

from escudo.errors import InputError
from escudo.sources import auditd, ecs, ocsf, sysmon
from escudo.sources.base import Source

# Sniffed in this order: the JSON sources first, since their test is strict (a JSON object with
# their required keys) while Sysmon's (``<Event>`` anywhere) also holds for a JSON event whose
# command line mentions ``<Event>``; auditd last (a record header, ``type=... msg=audit(``, on
# one of the first lines, which a Sysmon command line could also hold).
SOURCES: dict[str, Source] = {
    s.name: s
    for s in (ecs.EcsSource(), ocsf.OcsfSource(), sysmon.SysmonSource(), auditd.AuditdSource())
}

DEFAULT_SOURCETYPE = sysmon.SOURCETYPE


def get_sourcetype(name: str | None) -> Source:
    """Look a source type up; None means the default (``sysmon:linux``)."""
    key = DEFAULT_SOURCETYPE if name is None else name
    try:
        return SOURCES[key]
    except KeyError:
        known = ", ".join(sorted(SOURCES))
        raise InputError(f"unknown sourcetype {key!r} (known: {known})") from None


def sniff_source(head: bytes) -> Source | None:
    """The first registered source whose ``sniff`` accepts an input starting with ``head``."""
    for source in SOURCES.values():
        if source.sniff(head):
            return source
    return None
