"""The private working files of report and merge (scanner/spool.py): a chunk's texts go to the room
of their chunk or, not fitting, after every room; what is read back is what was written."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.spool import PlacedSpool, read_each, starts


def _read(spool: PlacedSpool, at: int, size: int) -> bytes:
    return os.pread(spool.fd, size, at)


def test_a_chunk_s_texts_go_to_its_room_and_what_does_not_fit_after_all_rooms() -> None:
    spool = PlacedSpool(1000)  # an input of 1000 bytes: its rooms end at 2000
    try:
        at = spool.place([b"ab", b"cd"], 100, 10)
        assert at == 200 and _read(spool, 200, 4) == b"abcd"
        assert spool.place([b"x" * 21], 300, 10) is None  # more than twice the chunk
        assert spool.place([b"y"], 995, 10) is None  # a chunk past the size the input had: no room
        first, second = spool.put(b"one"), spool.put(b"two")
        assert (first, second) == (2000, 2003) and _read(spool, 2000, 6) == b"onetwo"
        assert _read(spool, 200, 4) == b"abcd"  # the room is untouched by what was put
        spool.clear()
        assert spool.put(b"again") == 2000 and os.fstat(spool.fd).st_size == 2005  # the first two are gone
    finally:
        spool.close()


def test_the_room_of_one_chunk_never_reaches_the_next() -> None:
    spool = PlacedSpool(100)
    try:
        spool.place([b"a" * 20], 0, 10)  # the most the first chunk of 10 bytes may take
        spool.place([b"b" * 4], 10, 5)
        assert _read(spool, 0, 24) == b"a" * 20 + b"b" * 4
    finally:
        spool.close()


def test_the_rooms_of_a_next_input_come_after_all_that_was_written_for_the_first() -> None:
    spool = PlacedSpool(100)  # a merge's first input: rooms up to 200, then what the reader puts
    try:
        first = spool.place([b"a" * 10], 0, 10)
        put = spool.put(b"p" * 7)
        spool.rooms_for(50)  # the second input's rooms start at 207
        second = spool.place([b"b" * 10], 0, 10)
        assert (first, put, second) == (0, 200, 207) and spool.put(b"q") == 307
        spool.clear()  # what was put for the second input is forgotten, nothing of the first
        assert _read(spool, 0, 10) == b"a" * 10 and _read(spool, 200, 7) == b"p" * 7 and spool.put(b"r") == 307
    finally:
        spool.close()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=40), st.integers(0, 3)), max_size=30))
def test_read_each_gives_every_string_whatever_the_gaps_between_them(pieces: list[tuple[bytes, int]]) -> None:
    spool = PlacedSpool(0)
    try:
        ats, sizes = [], []
        for data, gap in pieces:
            if gap:
                spool.put(b"\xff" * gap)
            ats.append(spool.put(data))
            sizes.append(len(data))
        assert read_each(spool.fd, ats, sizes) == [data for data, _ in pieces]
        assert read_each(spool.fd, ats, sizes, skip=1) == [data[1:] for data, _ in pieces]
        if not any(gap for _, gap in pieces):  # put one after the other: where each starts follows from the sizes
            assert starts(ats[0] if ats else 0, sizes) == ats
        order = list(range(len(pieces)))[::-1]  # out of order: each read alone, still right
        assert read_each(spool.fd, [ats[k] for k in order], [sizes[k] for k in order]) == [pieces[k][0] for k in order]
    finally:
        spool.close()
