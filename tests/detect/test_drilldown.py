"""Drilldown token filling: the seed's drilldowns, escaping that cannot break out, offsets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from seed import seed_detection

from escudo.detect.drilldown import Trigger, fill_tokens, offset_time
from escudo.errors import InputError
from escudo.spl.macros import expand_macros
from escudo.spl.tokens import tokenize

T0 = datetime(2024, 5, 1, 10, tzinfo=UTC)
T1 = datetime(2024, 5, 2, 10, tzinfo=UTC)
TOKENS = {
    "user": "alice",
    "dest": "web-02",
    "info_min_time": T0.timestamp(),
    "info_max_time": T1.timestamp(),
}


@pytest.mark.parametrize("schema", ["rba", "tags"])  # quoted tokens (v6) and bare tokens (v4)
def test_seed_drilldowns_fill_to_the_same_search(schema: str) -> None:
    detection = seed_detection(schema)
    results, risk = (
        fill_tokens(d.search, TOKENS, original_search=detection.search)
        for d in detection.drilldown_searches
    )
    assert results == detection.search + ' | search  user = "alice" dest = "web-02"'
    assert risk.startswith(
        '| from datamodel Risk.All_Risk | search normalized_risk_object IN ("alice", "web-02")'
    )


def test_original_search_is_inserted_verbatim_even_with_dollars() -> None:
    filled = fill_tokens(
        "%original_detection_search% | search user=$user$", TOKENS, original_search="| x a=$user$"
    )
    assert filled == '| x a=$user$ | search user="alice"'


def test_window_tokens_are_epoch_numbers() -> None:
    filled = fill_tokens("| search earliest=$info_min_time$ latest=$info_max_time$", TOKENS)
    assert filled == f"| search earliest={T0.timestamp()} latest={T1.timestamp()}"


def test_a_window_token_that_is_not_a_number_is_quoted_like_any_value() -> None:
    """A row field or --token named info_min_time cannot paste SPL into the search."""
    filled = fill_tokens("| search earliest=$info_min_time$", {"info_min_time": 'x" | delete'})
    assert filled == '| search earliest="x\\" | delete"'
    with pytest.raises(InputError, match="is not a time"):
        offset_time("$info_min_time$", anchor=T1, tokens={"info_min_time": "x"}, before=True)
    assert offset_time("$info_min_time$", anchor=T1, tokens={"info_min_time": "1714557600"},
                       before=True) == datetime(2024, 5, 1, 10, tzinfo=UTC)  # fmt: skip


def test_missing_tokens_are_named() -> None:
    with pytest.raises(InputError) as info:
        fill_tokens('| search user="$user$" dest=$dest$ host=$host$ x=$user$', {"dest": "d"})
    assert (
        str(info.value)
        == "drilldown needs a value for $host$, $user$: pick a result with --row or pass --token"
    )


HOSTILE = [
    'a" OR user="*',
    "back\\",
    'x\\" | delete',
    "`macro`",
    "$user$",
    "a|b",
    "line\nbreak",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "template", ['| search user = "$user$" dest=x', "| search user = $user$ dest=x"]
)
def test_values_stay_inside_their_string(template: str, value: str) -> None:
    spl = expand_macros(fill_tokens(template, {"user": value}), {})
    assert [(t.kind, t.value) for t in tokenize(spl)] == [
        ("pipe", "|"), ("word", "search"), ("word", "user"), ("op", "="), ("string", value),
        ("word", "dest"), ("op", "="), ("word", "x"),
    ]  # fmt: skip


@given(st.text(max_size=30), st.text(max_size=30))
def test_any_value_round_trips_through_the_tokenizer(user: str, dest: str) -> None:
    spl = fill_tokens(
        '| search normalized_risk_object IN ("$user$", $dest$)', {"user": user, "dest": dest}
    )
    strings = [t.value for t in tokenize(spl) if t.kind == "string"]
    assert strings == [user, dest]


def test_offsets() -> None:
    tokens = {"info_min_time": T0.timestamp()}
    assert offset_time("$info_min_time$", anchor=T1, tokens=tokens, before=True) == T0
    assert offset_time("7d", anchor=T1, tokens={}, before=True) == datetime(
        2024, 4, 25, 10, tzinfo=UTC
    )
    assert offset_time("0", anchor=T1, tokens={}, before=False) == T1
    assert offset_time("3600", anchor=T1, tokens={}, before=False) == datetime(
        2024, 5, 2, 11, tzinfo=UTC
    )
    assert offset_time("", anchor=T1, tokens={}, before=True) is None
    with pytest.raises(InputError, match="cannot read drilldown offset 'soon'"):
        offset_time("soon", anchor=T1, tokens={}, before=True)


def test_finding_time_is_the_rows_event_time() -> None:
    trigger = Trigger({"user": "alice", "lastTime": "2024-05-01T12:00:00"}, T0, T1)
    assert trigger.time == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert Trigger({"user": "alice"}, T0, T1).time == T1
    assert trigger.all_tokens()["info_max_time"] == T1.timestamp()
