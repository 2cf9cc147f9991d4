"""What ``merge`` on disk (:mod:`scanner.merge_stream`) notes of each finding it reads, by its place
(its number in reading order), in compact arrays rather than a database: which ids were read
before (the union keeps the first finding of an id), and which places share a strong identity key.
"""

from __future__ import annotations

import bisect
import heapq
from array import array
from collections.abc import Iterator


class FirstOfIds:
    """The number of the finding at each place, each id kept once. An input this tool wrote lists
    its findings by id: each number is looked for, by bisection, among the sorted numbers of the
    inputs before it (8 bytes a finding). An input out of that order turns the look-up into a set
    of every number read (about 80 bytes a finding) for the rest of the merge."""

    def __init__(self) -> None:
        self.numbers = array("Q")  # the finding number at each place
        self.before = array("Q")  # sorted: the numbers of the inputs before this one, while all were in order
        self.seen: set[int] | None = None  # every number read, once an input was out of order
        self.starts: list[int] = []  # the first place of each input
        self.ordered: list[bool] = []  # each input's numbers ascending
        self.last = -1  # the last number of this input, while it is in order
        self.low = 0  # where in ``before`` that number was looked for

    def start(self) -> None:
        """A new input begins."""
        if self.seen is None and self.starts:
            previous = self.numbers[self.starts[-1]:]
            self.before = previous if not self.before else array("Q", heapq.merge(self.before, previous))
        self.starts.append(len(self.numbers))
        self.ordered.append(True)
        self.last, self.low = -1, 0

    def forget(self) -> None:
        """Forget what this input gave (it is read again from its start)."""
        start = self.starts[-1]
        if self.seen is not None:
            self.seen.difference_update(self.numbers[start:])
        del self.numbers[start:]
        self.ordered[-1] = True
        self.last, self.low = -1, 0

    def unheld(self, numbers: list[int]) -> list[int]:
        """The indexes in ``numbers`` of the findings no finding read before holds; each of them is
        given the next place, in order (the caller keeps every one)."""
        kept = []
        for k, n in enumerate(numbers):
            if self.seen is None:
                if n > self.last:
                    self.last = n
                    before = self.before
                    self.low = i = bisect.bisect_left(before, n, self.low)
                    if i < len(before) and before[i] == n:
                        continue
                    self.numbers.append(n)
                    kept.append(k)
                    continue
                if n == self.last:
                    continue  # its repeat, or a number the inputs before hold: either way held
                self.seen, self.before = set(self.numbers), array("Q")  # out of order: a set from here on
            if n in self.seen:
                continue
            self.seen.add(n)
            if len(self.numbers) > self.starts[-1] and n < self.numbers[-1]:
                self.ordered[-1] = False
            self.numbers.append(n)
            kept.append(k)
        return kept

    def done(self) -> None:
        """Reading is over: what only looking up needed is let go."""
        self.before, self.seen = array("Q"), None

    def in_order(self) -> Iterator[tuple[int, int]]:
        """Every place, by its finding's number (all numbers differ), as runs of consecutive places
        (``start``, ``end``): where every input was in order, as long as the inputs allow."""
        numbers, ends = self.numbers, [*self.starts[1:], len(self.numbers)]
        if not all(self.ordered):
            runs = [range(s, e) if ordered else sorted(range(s, e), key=numbers.__getitem__)
                    for s, e, ordered in zip(self.starts, ends, self.ordered)]
            yield from ((p, p + 1) for p in heapq.merge(*runs, key=numbers.__getitem__))
            return
        heads = [(numbers[s], s, e) for s, e in zip(self.starts, ends) if s < e]
        heapq.heapify(heads)
        while len(heads) > 1:
            _, start, end = heapq.heappop(heads)
            stop = bisect.bisect_left(numbers, heads[0][0], start, end)  # up to the next input's first
            yield start, stop
            if stop < end:
                heapq.heappush(heads, (numbers[stop], stop, end))
        if heads:
            yield heads[0][1], heads[0][2]


class SharedKeys:
    """The places that share a strong identity key: each key's first place, and each later place
    paired with it (what the join's union-find joins)."""

    def __init__(self) -> None:
        self.first: dict[bytes, int] = {}
        self.pairs = (array("i"), array("i"))  # (first place, place), the places ascending

    def add(self, place: int, keys: list[bytes]) -> None:
        first, (a, b) = self.first, self.pairs
        for key in keys:
            p = first.setdefault(key, place)
            if p != place:
                a.append(p)
                b.append(place)

    def forget(self, start: int) -> None:
        """Forget the places from ``start`` on."""
        self.first = {k: p for k, p in self.first.items() if p < start}
        a, b = self.pairs
        cut = bisect.bisect_left(b, start)
        del a[cut:], b[cut:]

    def joined(self) -> Iterator[tuple[int, int]]:
        """The pairs of places to join; the keys themselves are let go."""
        self.first = {}
        return zip(*self.pairs)
