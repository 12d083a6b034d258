"""Macro expansion: arguments, nesting, positions, built-ins, and located errors."""

from __future__ import annotations

import pytest

from escudo.content.model import Macro
from escudo.errors import SplSyntaxError, UnsupportedSplError
from escudo.spl.macros import expand_macros

MACROS = {
    m.key: m
    for m in (
        Macro(
            "security_content_summariesonly",
            "summariesonly=`summariesonly_config` allow_old_summaries=`oldsummaries_config` "
            "fillnull_value=`fillnull_config`",
        ),
        Macro("summariesonly_config", "false"),
        Macro("oldsummaries_config", "true"),
        Macro("fillnull_config", "null"),
        Macro(
            "security_content_ctime",
            'convert timeformat="%Y-%m-%dT%H:%M:%S" ctime($field$)',
            ("field",),
        ),
        Macro("linux_shells", '(Processes.process_name IN ("sh", "bash"))'),
        Macro("pair", "$a$=$b$", ("a", "b")),
        Macro("pair", "$a$=1", ("a",)),
        Macro("loop", "x `loop`"),
        Macro("broken", "a `nope` b"),
    )
}


def test_seed_macros_expand() -> None:
    text = (
        "| tstats `security_content_summariesonly` count from datamodel=Endpoint.Processes "
        'where Processes.process="*|*" `linux_shells` by Processes.dest | `drop_dm_object_name(Processes)` '
        "| `security_content_ctime(firstTime)` | `linux_ngrok_reverse_proxy_usage_filter`"
    )
    assert expand_macros(text, MACROS) == (
        "| tstats summariesonly=false allow_old_summaries=true fillnull_value=null count "
        'from datamodel=Endpoint.Processes where Processes.process="*|*" '
        '(Processes.process_name IN ("sh", "bash")) by Processes.dest | rename Processes.* AS * '
        '| convert timeformat="%Y-%m-%dT%H:%M:%S" ctime(firstTime) | search *'
    )


def test_arguments_pick_the_key_by_count() -> None:
    assert expand_macros("search `pair(x, y)` `pair(z)`", MACROS) == "search x=y z=1"


def test_arguments_keep_quotes_and_nested_commas() -> None:
    assert expand_macros('`pair("a,b", f(1,2))`', MACROS) == '"a,b"=f(1,2)'


def test_drop_dm_object_name_quoted_and_overridable() -> None:
    assert expand_macros('`drop_dm_object_name("All_Risk")`', {}) == "rename All_Risk.* AS *"
    custom = {"drop_dm_object_name(1)": Macro("drop_dm_object_name", "rename $o$.* AS o_*", ("o",))}
    assert expand_macros("`drop_dm_object_name(P)`", custom) == "rename P.* AS o_*"


def test_filter_macro_can_be_overridden() -> None:
    custom = {"x_filter": Macro("x_filter", "search user!=root")}
    assert expand_macros("| `x_filter`", custom) == "| search user!=root"


def test_backtick_inside_quotes_is_literal() -> None:
    assert expand_macros('search a="`not a macro`"', {}) == 'search a="`not a macro`"'


def test_undefined_macro_is_located() -> None:
    with pytest.raises(UnsupportedSplError) as info:
        expand_macros("| tstats count\n| `nope(1)`", MACROS, origin="d.yml")
    err = info.value
    assert err.message == "undefined macro `nope(1)`"
    assert (err.line, err.column) == (2, 3)
    assert (
        err.render()
        == "undefined macro `nope(1)` at d.yml: line 2, column 3\n  | `nope(1)`\n    ^^^^^^^^^"
    )


def test_wrong_argument_count_names_the_defined_keys() -> None:
    with pytest.raises(UnsupportedSplError) as info:
        expand_macros("`pair(1,2,3)`", MACROS)
    assert info.value.message == "undefined macro `pair(3)` (defined: pair(1), pair(2))"


def test_nested_error_points_at_the_outer_call() -> None:
    with pytest.raises(UnsupportedSplError) as info:
        expand_macros("search x `broken`", MACROS)
    assert info.value.message == "undefined macro `nope` (in macro `broken`)"  # named once
    assert info.value.column == 10


def test_recursion_is_stopped() -> None:
    with pytest.raises(UnsupportedSplError) as info:
        expand_macros("search `loop`", MACROS)
    assert info.value.message == "recursive macro: `loop` -> `loop`"
    assert info.value.column == 8


def test_macro_cycle_is_named_once_with_its_chain() -> None:
    macros = {
        "outer": Macro("outer", "a=1 `ping`"),
        "ping": Macro("ping", "b=2 `pong`"),
        "pong": Macro("pong", "c=3 `ping`"),
    }
    with pytest.raises(UnsupportedSplError) as info:
        expand_macros("search `outer`", macros, origin="d.yml")
    assert info.value.message == "recursive macro: `ping` -> `pong` -> `ping`"
    assert (info.value.line, info.value.column) == (1, 8)
    assert info.value.render().count("\n") == 2  # one message line, then the caret excerpt


def test_deep_macro_nesting_says_it_once_with_the_chain() -> None:
    # m0 calls m1 calls ... m79: no cycle, but deeper than MAX_DEPTH.
    macros = {f"m{i}": Macro(f"m{i}", f"x{i}=1 `m{i + 1}`") for i in range(80)}
    with pytest.raises(UnsupportedSplError) as info:
        expand_macros("search `m0`", macros)
    message = info.value.message
    assert message.startswith("macro expansion deeper than 50 levels: `m0` -> `m1` -> ")
    assert message.endswith("-> `m49` -> `m50`")
    assert message.count("deeper") == 1 and "in macro" not in message
    assert len(message) < 200


def test_error_deep_in_a_chain_names_the_chain_once() -> None:
    macros = {
        "a": Macro("a", "x `b`"),
        "b": Macro("b", "y `c`"),
        "c": Macro("c", "z `nope`"),
    }
    with pytest.raises(UnsupportedSplError) as info:
        expand_macros("search `a`", macros)
    assert info.value.message == "undefined macro `nope` (in macro `a` -> `b` -> `c`)"


def test_unterminated_macro() -> None:
    with pytest.raises(SplSyntaxError) as info:
        expand_macros("search `oops", MACROS)
    assert info.value.message == "unterminated macro call (missing closing backtick)"
    assert info.value.column == 8
