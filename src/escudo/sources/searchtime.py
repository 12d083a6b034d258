"""Search-time field extraction from ``_raw``, per sourcetype: what a raw-event search
(``sourcetype=linux:audit type=EXECVE ...``) sees as fields, as Splunk's add-ons extract them.

Splunk extracts every field of a raw event at search time from ``_raw``; escudo does the same in
SQL, only for the fields a search references: each extraction is one regular expression over
``_raw`` whose group 2 is the value (group 1 the key), built from :attr:`KeyValues.template`. A
value that is empty (or a key that is absent) is a missing field (NULL). The decisions and their
sources are in docs/semantics.md, "Raw-event search: search-time fields".

>>> SEARCH_TIME["linux:audit"].field_regex("comm")
'(?:^|[\\\\s\\'\\\\x1d])(comm)=("[^"]*"|[^\\\\s\\'"\\\\x1d]*)'
>>> import re
>>> raw = "type=SERVICE_STOP msg=audit(1.2:3): pid=1 msg='unit=atd res=success'\\x1dUID=\\"root\\""
>>> [re.search(SEARCH_TIME["linux:audit"].field_regex(k), raw).group(2) for k in ("unit", "res", "UID")]
['atd', 'success', '"root"']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A key as Splunk's automatic key/value extraction reads one: a letter or underscore, then
# letters, digits, underscores (Knowledge Manager Manual, "Automatic key-value field extraction").
KEY = r"[A-Za-z_][A-Za-z0-9_]*"


@dataclass(frozen=True)
class KeyValues:
    """One sourcetype's search-time extraction: ``template`` holds ``{key}`` (a regex for the key
    names wanted) and captures the key (group 1) and the value (group 2); ``quotes`` are the
    characters trimmed from both ends of a value. ``forms`` say how an extracted value sits in
    ``_raw``, as what comes before it (``{key}`` the key) and after it: a value ``v`` extracted
    for ``key`` means ``_raw`` holds one form's ``before + v + after`` (the raw-text prefilter's
    needles, :meth:`needles`)."""

    template: str
    quotes: str = ""
    forms: tuple[tuple[str, str], ...] = ()

    def needles(self, key: str, pattern: str) -> tuple[str, ...]:
        """Texts one of which ``_raw`` holds (ASCII case-insensitively) when field ``key``
        matches search pattern ``pattern`` (``*`` wildcards, case folded as ``LOWER`` does):
        each form around the value when it is exact ASCII, around its ASCII prefix when it has
        one, else the pattern's longest ASCII run (docs/semantics.md, "Raw-event search").

        >>> audit = SEARCH_TIME["linux:audit"]
        >>> audit.needles("comm", "ngrok"), audit.needles("name", "/etc/sudoers*")
        (('comm=ngrok', 'comm="ngrok"'), ('name=/etc/sudoers', 'name="/etc/sudoers'))
        >>> audit.needles("exe", "*/whoami"), audit.needles("exe", "*")
        (('/whoami',), ('exe=', 'exe="'))
        """
        from escudo.compile.rawsearch import ascii_needle, ascii_prefix

        if "*" not in pattern and pattern.isascii():
            return tuple(
                f"{before.format(key=key)}{pattern}{after}" for before, after in self.forms
            )
        prefix = ascii_prefix(pattern)
        longest = ascii_needle(pattern)
        if not prefix and longest is not None:
            return (longest,)
        return tuple(before.format(key=key) + prefix for before, _ in self.forms)

    def field_regex(self, name: str) -> str:
        """The regex extracting field ``name`` (group 2)."""
        return self.template.format(key=re.escape(name))

    def pairs_regex(self, key_regex: str = KEY) -> str:
        """The regex matching every ``key=value`` whose key matches ``key_regex``."""
        return self.template.format(key=key_regex)


SEARCH_TIME: dict[str, KeyValues] = {
    # linux:audit: the Splunk Add-on for Unix and Linux leaves linux:audit to Splunk's automatic
    # key=value extraction (data_sources/linux_auditd_*.yml list the fields it gives: type, msg,
    # pid, exe, comm, unit, res, UID, AUID, OGID, proctitle, a0..aN, argc, ...). A key starts the
    # record, follows a blank, the quote opening ``msg='...'`` (the user-space message whose own
    # pairs unit=, exe=, res= ESCU searches use) or the 0x1d byte before the ENRICHED part
    # (UID="root"); a value is double-quoted (quotes dropped) or runs to the next blank, quote or
    # 0x1d. Hex-encoded values (proctitle=6368..., a1=2F746D...) stay hex, as ESCU's
    # linux_auditd_normalized_proctitle_process macro expects.
    # A value extracted from ``key="v"`` or ``key=v`` (the quotes trimmed: the quoted form
    # holds none inside, the bare one no quote at all).
    "linux:audit": KeyValues(
        r"""(?:^|[\s'\x1d])({key})=("[^"]*"|[^\s'"\x1d]*)""",
        quotes='"',
        forms=(("{key}=", ""), ('{key}="', '"')),
    ),
    # sysmon:linux: the System elements (<EventID>1</EventID>, <Computer>) and the EventData
    # <Data Name='Image'>/usr/bin/x</Data> pairs, as Splunk's Add-on for Sysmon for Linux names
    # them (field names in ESCU's Sysmon for Linux searches: Image, CommandLine, EventID, ...).
    # Values keep the XML escapes of _raw (&amp;, &lt;), as the needles of the prefilter do.
    # A value extracted from ``<Data Name='key'>v<``, ``<key>v<`` (and with the quotes' other
    # spellings): ``_raw`` holds ``key'>v<``, ``key">v<`` or ``key>v<``.
    "sysmon:linux": KeyValues(
        r"""<(?:Data Name=['"])?({key})['"]?>([^<]*)<""",
        forms=(("{key}>", "<"), ("{key}'>", "<"), ('{key}">', "<")),
    ),
}
