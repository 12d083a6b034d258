"""The pass/fail rule, skip rule and attack-data resolution of ``escudo test`` (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from escudo.content.model import AttackData, Detection, DetectionTest, RiskObject, ThreatObject
from escudo.detect.testing import (
    BUNDLED_ATTACK_DATA,
    judge,
    resolve_attack_data,
    skip_reason,
    sourcetype_of,
)
from escudo.errors import ContentError, InputError

URL = (
    "https://media.githubusercontent.com/media/splunk/attack_data/master/"
    "datasets/attack_techniques/T1572/ngrok/ngrok_linux-sysmon.log"
)


def anomaly(**kw: object) -> Detection:
    fields = {
        "name": "Linux Ngrok Reverse Proxy Usage",
        "id": "bc84d574-708c-467d-b78a-4c1e20171f97",
        "search": "| tstats count",
        "type": "Anomaly",
        "risk_objects": (RiskObject("user", "user", 50), RiskObject("dest", "system", 50)),
        "threat_objects": (ThreatObject("parent_process_name", "process"), ThreatObject("process_name", "process")),
    }  # fmt: skip
    fields.update(kw)
    return Detection(**fields)  # type: ignore[arg-type]


TP = DetectionTest(name="True Positive Test")
NEG = DetectionTest(name="Benign", expect="none")


def rows(**columns: list[object]) -> pa.Table:
    return pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})


GOOD = rows(
    user=["root", "alice"], dest=["web-02", "db-01"],
    parent_process_name=["bash", None], process_name=["ngrok", "ngrok"],
)  # fmt: skip


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (GOOD, ("pass", "2 results")),
        (GOOD.slice(0, 0), ("fail", "0 results")),
        (GOOD.drop_columns(["user"]), ("fail", "risk object field 'user' missing from results")),
        (
            GOOD.set_column(0, "user", pa.array(["root", "null"])),
            ("fail", "risk object field 'user' was null in 1 of 2 results"),
        ),
        (
            GOOD.set_column(1, "dest", pa.array([None, None], pa.string())),
            ("fail", "risk object field 'dest' was null in 2 of 2 results"),
        ),
        (
            GOOD.set_column(2, "parent_process_name", pa.array(["null", None])),
            ("fail", "threat object field 'parent_process_name' was null in all results"),
        ),
        (
            GOOD.drop_columns(["process_name"]),
            ("fail", "threat object field 'process_name' missing from results"),
        ),
    ],
)
def test_judge_follows_contentctl(table: pa.Table, expected: tuple[str, str]) -> None:
    assert judge(anomaly(), TP, table) == expected


def test_threat_object_null_in_some_results_still_passes() -> None:
    # parent_process_name is None in one of the two rows of GOOD: one non-null value is enough.
    assert judge(anomaly(), TP, GOOD)[0] == "pass"


def test_hunting_passes_with_any_result_and_fails_on_none() -> None:
    hunting = anomaly(type="Hunting")
    assert judge(hunting, TP, rows(x=["1"])) == ("pass", "1 result")
    assert judge(hunting, TP, rows(x=[])) == ("fail", "0 results")


def test_negative_test_passes_only_without_results() -> None:
    assert judge(anomaly(), NEG, GOOD.slice(0, 0)) == ("pass", "0 results, as expected")
    assert judge(anomaly(), NEG, GOOD) == ("fail", "2 results, expected none")


def test_multivalue_risk_field_counts_when_any_value_is_set() -> None:
    table = pa.table({"user": pa.array([["root"], []], pa.list_(pa.string())), "dest": ["a", "b"]})
    detection = anomaly(threat_objects=())
    assert judge(detection, TP, table) == (
        "fail",
        "risk object field 'user' was null in 1 of 2 results",
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"manual_test": "needs a real host"}, "manual_test: needs a real host"),
        ({"status": "experimental"}, "status is experimental"),
        ({"type": "Correlation"}, "Correlation detections are not unit tested"),
        ({"type": "Baseline"}, "Baseline detections are not unit tested"),
        ({"tests": ()}, "no tests"),
        ({}, None),
    ],
)
def test_skip_reason(changes: dict[str, object], reason: str | None) -> None:
    assert skip_reason(anomaly(**{"tests": (TP,), **changes})) == reason


def test_url_resolves_to_bundled_data() -> None:
    expected = BUNDLED_ATTACK_DATA / "datasets/attack_techniques/T1572/ngrok/ngrok_linux-sysmon.log"
    assert resolve_attack_data(URL) == expected
    raw = URL.replace("media.githubusercontent.com/media", "raw.githubusercontent.com")
    assert resolve_attack_data(raw) == expected


def test_attack_data_dir_wins_over_bundled(tmp_path: Path) -> None:
    mine = tmp_path / "datasets/attack_techniques/T1572/ngrok/ngrok_linux-sysmon.log"
    mine.parent.mkdir(parents=True)
    mine.write_text("<Event/>\n")
    assert resolve_attack_data(URL, [tmp_path]) == mine


def test_local_paths(tmp_path: Path) -> None:
    log = tmp_path / "data" / "x.log"
    log.parent.mkdir()
    log.write_text("")
    assert resolve_attack_data("data/x.log", base=tmp_path) == log
    assert resolve_attack_data("./data/x.log", [tmp_path]) == tmp_path / "data/x.log"
    assert resolve_attack_data("x.log", [tmp_path / "data"]) == log


def test_missing_file_names_every_place_it_looked(tmp_path: Path) -> None:
    url = URL.replace("ngrok_linux-sysmon.log", "absent.log")
    with pytest.raises(InputError) as info:
        resolve_attack_data(url, [tmp_path])
    message = str(info.value)
    assert message.startswith(f"attack data not found: {url} (looked for {tmp_path}/datasets/")
    assert str(BUNDLED_ATTACK_DATA / "datasets/attack_techniques/T1572/ngrok/absent.log") in message


def test_foreign_url_is_never_downloaded() -> None:
    with pytest.raises(InputError, match="escudo does not download"):
        resolve_attack_data("https://example.com/evil.log")


def test_sourcetype_from_source_and_unsupported_ones() -> None:
    assert (
        sourcetype_of(AttackData("x", source="Syslog:Linux-Sysmon/Operational")) == "sysmon:linux"
    )
    with pytest.raises(
        InputError, match="unsupported sourcetype 'XmlWinEventLog' for attack data x"
    ):
        sourcetype_of(AttackData("x", sourcetype="XmlWinEventLog"))
    with pytest.raises(InputError, match="names no sourcetype"):
        sourcetype_of(AttackData("x"))


value = st.sampled_from([None, "null", "", "root", "web-02"])


@given(st.lists(st.tuples(value, value, value, value), max_size=6))
def test_judge_matches_the_rule_as_written(records: list[tuple[str | None, ...]]) -> None:
    """PASS iff >= 1 row, risk fields set in every row, each threat field set in some row."""
    names = ["user", "dest", "parent_process_name", "process_name"]
    table = pa.table(
        {n: pa.array([r[i] for r in records], pa.string()) for i, n in enumerate(names)}
    )

    def is_set(v: str | None) -> bool:
        return v not in (None, "null", "")

    expected = (
        bool(records)
        and all(is_set(r[0]) and is_set(r[1]) for r in records)
        and any(is_set(r[2]) for r in records)
        and any(is_set(r[3]) for r in records)
    )
    assert (judge(anomaly(), TP, table)[0] == "pass") == expected
    assert (judge(anomaly(), NEG, table)[0] == "pass") == (not records)


# --- attack data stays in its folder --------------------------------------------------------------

MASTER = "https://media.githubusercontent.com/media/splunk/attack_data/master/"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside every attack-data folder (``tmp_path/outside``), next to ``tmp_path/data``,
    the --attack-data folder the tests give; ``data/datasets/ok.log`` is a legitimate file."""
    (tmp_path / "data" / "datasets").mkdir(parents=True)
    (tmp_path / "data" / "datasets" / "ok.log").write_text("<Event/>\n")
    (tmp_path / "outside").mkdir()
    path = tmp_path / "outside" / "secret.log"
    path.write_text("<Event/>\n")
    return path


def refused(url: str, folder: Path, base: Path | None = None) -> str:
    """The message of the ContentError resolving ``url`` raises, located at d.yml:12."""
    with pytest.raises(ContentError) as info:
        resolve_attack_data(url, [folder], base=base, origin="d.yml", line=12)
    assert (info.value.path, info.value.line) == ("d.yml", 12)
    return str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        MASTER + "../outside/secret.log",
        MASTER + "datasets/../../outside/secret.log",
        "../outside/secret.log",
        "datasets/../../outside/secret.log",
    ],
)
def test_dot_dot_is_refused(secret: Path, url: str) -> None:
    folder = secret.parent.parent / "data"
    message = refused(url, folder, base=folder / "datasets")
    assert (
        message == f"d.yml:12: attack data {url!r} is refused: '..' leaves the attack data folder"
    )


def test_dot_dot_is_refused_even_when_it_lands_back_inside(secret: Path) -> None:
    folder = secret.parent.parent / "data"
    message = refused(MASTER + "datasets/../datasets/ok.log", folder)
    assert message.endswith("is refused: '..' leaves the attack data folder")


@pytest.mark.parametrize("url", ["{secret}", MASTER + "{secret}", "~/secret.log"])
def test_absolute_paths_are_refused(secret: Path, url: str) -> None:
    url = url.format(secret=secret)  # MASTER + "/tmp/.../secret.log": a path from the root
    message = refused(url, secret.parent.parent / "data")
    assert message == (
        f"d.yml:12: attack data {url!r} is refused: an absolute path; "
        "give one relative to --attack-data"
    )


@pytest.mark.parametrize(
    ("encoded", "reason"),
    [
        ("%2e%2e%2foutside/secret.log", "'..' leaves the attack data folder"),
        ("%2E%2E/outside/secret.log", "'..' leaves the attack data folder"),
        ("..%2Foutside%2Fsecret.log", "'..' leaves the attack data folder"),
        ("%2F{root}/outside/secret.log", "an absolute path; give one relative to --attack-data"),
        ("%252e%252e%252foutside/secret.log", "percent-encoded twice"),
        ("%25252e%25252e/outside/secret.log", "percent-encoded twice"),
        ("datasets/ok.log%00.txt", "a control character in the path"),
        ("datasets/%ff.log", "not UTF-8 once percent-decoded"),
    ],
)
def test_percent_encoded_traversal_is_refused(secret: Path, encoded: str, reason: str) -> None:
    url = MASTER + encoded.format(root=str(secret.parent.parent).lstrip("/"))
    message = refused(url, secret.parent.parent / "data")
    assert message == f"d.yml:12: attack data {url!r} is refused: {reason}"


def test_percent_encoding_once_is_a_file_name(secret: Path) -> None:
    folder = secret.parent.parent / "data"
    (folder / "datasets" / "with space.log").write_text("")
    found = resolve_attack_data(MASTER + "datasets/with%20space.log", [folder])
    assert found == folder / "datasets" / "with space.log"


@pytest.mark.parametrize("link", ["file", "folder"])
def test_a_symlink_leading_out_of_the_tree_is_refused(secret: Path, link: str) -> None:
    folder = secret.parent.parent / "data"
    if link == "file":
        (folder / "datasets" / "evil.log").symlink_to(secret)
        url = MASTER + "datasets/evil.log"
    else:
        (folder / "datasets" / "evil").symlink_to(secret.parent, target_is_directory=True)
        url = MASTER + "datasets/evil/secret.log"
    message = refused(url, folder)
    candidate = folder / url.split("/master/")[1]
    assert message == (
        f"d.yml:12: attack data {url!r} is refused: "
        f"{candidate} is a symlink leading out of {folder}"
    )


def test_a_symlink_inside_the_tree_is_followed(secret: Path) -> None:
    folder = secret.parent.parent / "data"
    (folder / "datasets" / "alias.log").symlink_to(folder / "datasets" / "ok.log")
    assert resolve_attack_data(MASTER + "datasets/alias.log", [folder]).name == "alias.log"


def test_a_name_too_long_for_the_os_is_not_found(tmp_path: Path) -> None:
    url = MASTER + "datasets/" + "x" * 300 + ".log"
    with pytest.raises(InputError, match=r"^attack data not found: "):
        resolve_attack_data(url, [tmp_path])
