"""scanner.jsontext writes exactly the text of the standard library's indented, sorted JSON."""

from __future__ import annotations

import json

from hypothesis import given, settings, strategies as st

from scanner import jsontext

_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text())
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=20)


def _stdlib(value: object, level: int = 0) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).replace("\n", "\n" + "  " * level)


@settings(max_examples=300, deadline=None)
@given(_values, st.integers(min_value=0, max_value=3))
def test_same_text_as_the_standard_library(value: object, level: int) -> None:
    assert jsontext.dumps(value, level) == _stdlib(value, level)


def test_the_values_orjson_writes_differently_or_refuses() -> None:
    for value in (1e-05, 1.23e-08, 0.00001234, 2 ** 64, "\udcff name", {"k": [1e-7, "\x00\x1f\x7f\u2028"]}):
        assert jsontext.dumps(value, 1) == _stdlib(value, 1), value
