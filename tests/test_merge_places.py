"""The merge's bookkeeping of places (scanner/merge_places.py) against the plain rule it stands for:
the first finding of each id is kept, later ones are let go, and places sharing a key are joined."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.merge_places import FirstOfIds, SharedKeys

_INPUTS = st.lists(st.lists(st.integers(0, 40), max_size=30), min_size=1, max_size=4)


def _kept_by_rule(inputs: list[list[int]]) -> list[int]:
    seen: set[int] = set()
    kept = []
    for numbers in inputs:
        for n in numbers:
            if n not in seen:
                seen.add(n)
                kept.append(n)
    return kept


def _read(ids: FirstOfIds, inputs: list[list[int]], piece: int) -> None:
    for numbers in inputs:
        ids.start()
        for start in range(0, len(numbers), piece):
            part = numbers[start:start + piece]
            kept = ids.unheld(part)
            assert kept == sorted(kept)


def _places(ids: FirstOfIds) -> list[int]:
    return [p for start, end in ids.in_order() for p in range(start, end)]


def test_inputs_in_order_come_back_in_runs_as_long_as_they_allow() -> None:
    ids = FirstOfIds()
    _read(ids, [[10, 11, 12, 30, 31], [1, 2, 20, 21, 40], [13, 35]], 2)
    assert list(ids.in_order()) == [(5, 7), (0, 3), (10, 11), (7, 9), (3, 5), (11, 12), (9, 10)]


@settings(max_examples=300, deadline=None)
@given(_INPUTS, st.booleans(), st.integers(1, 7))
def test_the_first_of_each_id_is_kept_and_the_places_come_back_by_number(inputs: list[list[int]], ordered: bool,
                                                                        piece: int) -> None:
    if ordered:  # as this tool writes them: by id, a repeat next to its first
        inputs = [sorted(numbers) for numbers in inputs]
    ids = FirstOfIds()
    _read(ids, inputs, piece)
    assert list(ids.numbers) == _kept_by_rule(inputs)
    ids.done()
    assert [ids.numbers[p] for p in _places(ids)] == sorted(ids.numbers)


def test_inputs_in_order_are_looked_up_without_a_set_and_one_out_of_order_turns_to_one() -> None:
    ids = FirstOfIds()
    _read(ids, [[1, 3, 3, 5], [2, 3, 6]], 2)
    assert ids.seen is None and list(ids.numbers) == [1, 3, 5, 2, 6] and ids.ordered == [True, True]
    _read(ids, [[9, 7, 1, 8]], 2)  # out of order: 7 after 9; 1 is held by the first input
    assert ids.seen is not None and list(ids.numbers) == [1, 3, 5, 2, 6, 9, 7, 8] and ids.ordered[-1] is False
    assert [ids.numbers[p] for p in _places(ids)] == [1, 2, 3, 5, 6, 7, 8, 9]


def test_an_input_read_again_from_its_start_is_forgotten_first() -> None:
    for second in ([4, 6, 8], [8, 6, 4]):  # in order, and out of it (a set by then)
        ids = FirstOfIds()
        _read(ids, [[2, 4]], 5)
        ids.start()
        ids.unheld(second)
        ids.forget()
        assert ids.unheld([6, 8, 4]) == [0, 1]  # 6 and 8 as new; 4 held by the first input
        assert list(ids.numbers) == [2, 4, 6, 8]


def test_places_sharing_a_key_are_paired_with_its_first_and_forgotten_from_a_place_on() -> None:
    keys = SharedKeys()
    keys.add(0, [b"repo:a", b"cred:1"])
    keys.add(1, [b"repo:b"])
    keys.add(2, [b"repo:a"])
    keys.add(3, [b"cred:1", b"repo:b"])
    keys.forget(3)
    keys.add(3, [b"repo:b"])
    assert list(keys.joined()) == [(0, 2), (1, 3)] and keys.first == {}


def test_a_large_input_in_order_is_looked_up_in_little_room() -> None:
    rng = random.Random(7)
    numbers = sorted({rng.getrandbits(64) for _ in range(20_000)})
    ids = FirstOfIds()
    _read(ids, [numbers[::2], numbers], 1000)
    assert list(ids.numbers) == numbers[::2] + numbers[1::2] and ids.seen is None
