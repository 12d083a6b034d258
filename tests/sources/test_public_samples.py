"""The real public Sysmon for Linux lines of ``../shared/reference/samples/sysmon_linux_public.txt``
(Elastic's integration sample and Splunk's data-source example) read with the values of the original.

"The original" is each event's own XML text, read independently here the way Splunk's add-on extracts
it (a regex per element, escapes kept; docs/semantics.md "Field values keep the XML escapes"), after
``xml.etree`` has checked the event is well-formed; the reader's fast and reference paths must both
give exactly those values, and no event may be lost or called malformed.
A few of these lines are also copied, with their source, into ``tests/fixtures/sysmon/golden/`` so the
property holds without the reference folder (CI on a clone without ``../shared``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from escudo.datamodels.normalize import read_dataset
from escudo.sources.base import ReadStats

PUBLIC = (
    Path(__file__).parents[2].parent
    / "shared"
    / "reference"
    / "samples"
    / "sysmon_linux_public.txt"
)
pytestmark = pytest.mark.skipif(not PUBLIC.exists(), reason="reference samples not available")


def _original(line: str) -> dict[str, str]:
    xml = line[line.index("<Event>") : line.rindex("</Event>") + len("</Event>")]
    ET.fromstring(xml)  # well-formed
    values = dict(re.findall(r'<Data Name="([^"]*)">([^<]*)</Data>', xml))
    for name in ("EventID", "Computer"):
        found = re.search(f"<{name}>([^<]*)</{name}>", xml)
        values[name] = found.group(1) if found else ""
    return values


@pytest.mark.parametrize("extractor", ["fast", "reference"])
def test_every_public_event_reads_with_its_original_values(extractor: str) -> None:
    lines = [x for x in PUBLIC.read_text().splitlines() if "<Event>" in x]
    stats = ReadStats()
    rows = [
        row
        for batch in read_dataset([PUBLIC], "raw", stats=stats, extractor=extractor)
        for row in batch.to_pylist()
    ]
    assert stats.malformed == 0 and len(rows) == len(lines) > 0
    for line, row in zip(lines, rows, strict=True):
        original = _original(line)
        for name, value in original.items():
            assert row[name] == value, (name, line[:80])
        stamp = re.search(r'SystemTime="([^"]+)"', line)
        assert stamp is not None and row["SystemTime"] == stamp.group(1)
