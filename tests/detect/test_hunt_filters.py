"""The OR of raw prefilters keeps every event any one of them keeps (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from escudo.detect.hunt import MAX_UNION_CLAUSES, union_filters
from escudo.sources.base import RawFilter

needle = st.sampled_from(["ngrok", "tcp", "http", "chisel", "frpc", "Serveo", "-R", "&amp;"])
cnf = st.builds(
    RawFilter, st.lists(st.lists(needle, min_size=1, max_size=3).map(tuple), max_size=3).map(tuple)
)
text = st.lists(
    st.sampled_from(["ngrok ", "TCP ", "http", "x ", "chisel", "serveo", "-r", "&amp;"])
)


@given(st.lists(cnf, min_size=1, max_size=4), text)
def test_union_is_exactly_the_or(filters: list[RawFilter], words: list[str]) -> None:
    raw = "".join(words).encode()
    union = union_filters(filters)
    expected = any(f.matches(raw) for f in filters)
    if union is None:  # "read everything" is always sound
        return
    assert union.matches(raw) == expected
    assert len(union.clauses) <= MAX_UNION_CLAUSES


def test_no_filter_wins() -> None:
    assert union_filters([RawFilter((("ngrok",),)), None]) is None
    assert union_filters([RawFilter((("ngrok",),)), RawFilter(())]) is None
    assert union_filters([]) is None


def test_single_filter_is_kept() -> None:
    f = RawFilter((("ngrok",), ("http", "tcp")))
    assert union_filters([f]) == f


def test_too_many_clauses_reads_unfiltered() -> None:
    wide = RawFilter(tuple((f"a{i}",) for i in range(9)))
    other = RawFilter(tuple((f"b{i}",) for i in range(9)))
    assert union_filters([wide, other]) is None
