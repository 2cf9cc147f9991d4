"""What the fuzz tests (tests/test_fuzz_*.py) share: example counts, byte mutation, cost and memory probes.

Every parser of outside input gets three properties: no exception escapes but the
documented ones, cost linear in the input, memory bounded. Cost is measured
deterministically where the work is Python code (lines executed in the project's
modules and the named libraries, :func:`lines_run`), and as a generous CPU-time
ratio between an input and one four times its size where the work is in C
(:func:`cpu_seconds`): never as a wall-clock threshold.

``SHADOW_AGENTS_FUZZ_EXAMPLES=N`` runs every fuzz test with N examples, randomly
seeded (a deep run by hand); without it the examples are few and the same on every
run, so that CI is fast and a failure reproduces.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable, Sequence

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
DEEP = int(os.environ.get("SHADOW_AGENTS_FUZZ_EXAMPLES") or 0)
LINEAR = 4.5  # cost(4n) / cost(n) at most: 4 for any a + b*n, 16 for a quadratic
LINEAR_CPU = 9.0  # the same as CPU time, with room for a shared machine's noise


def fuzz(examples: int = 100, deep_share: float = 1.0, **extra: Any) -> settings:
    """Hypothesis settings for one fuzz test: ``examples`` in CI, the deep count when asked for
    (``deep_share`` of it for a test whose every example is costly)."""
    return settings(max_examples=max(examples, int(DEEP * deep_share)) if DEEP else examples, deadline=None, derandomize=not DEEP, database=None,
                    print_blob=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                            HealthCheck.filter_too_much], **extra)


# ---- mutation of real inputs ------------------------------------------------------------------

_OPS = ("flip", "set", "insert", "delete", "truncate", "repeat", "splice")
_INTERESTING = (b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff\xff", b"\x00\x00", b"\xff\xff\xff\xff", b"\x00\x00\x00\x00",
                b"\n", b"\r\n", b"\t", b" ", b"\\", b"\"", b"{", b"[", b"#", b",", b":", b"-", b"\xc3", b"\xed\xa0\x80")


def mutate(data: bytes, ops: Sequence[tuple[str, int, int, bytes]]) -> bytes:
    """``data`` with each (operation, position, length, bytes) applied: bit flips, set bytes, inserted,
    deleted and repeated runs, a cut, a splice of another part of the input."""
    b = bytearray(data)
    for op, pos, length, extra in ops:
        if not b:
            b = bytearray(extra or b"\x00")
            continue
        i = pos % len(b)
        if op == "flip":
            b[i] ^= 1 << (length % 8)
        elif op == "set":
            b[i:i + len(extra)] = extra
        elif op == "insert":
            b[i:i] = extra
        elif op == "delete":
            del b[i:i + 1 + length % 64]
        elif op == "truncate":
            del b[i:]
        elif op == "repeat":  # adversarial repetition of a piece that is already there
            piece = bytes(b[i:i + 1 + length % 32])
            b[i:i] = piece * (1 + length % 50)
        else:  # splice
            j = length % len(b)
            b[i:i] = b[j:j + 1 + length % 128]
    return bytes(b)


def mutations(seeds: Sequence[bytes], max_ops: int = 8) -> st.SearchStrategy[bytes]:
    """Real inputs (``seeds``) with up to ``max_ops`` mutations each."""
    extra = st.one_of(st.sampled_from(_INTERESTING), st.binary(min_size=1, max_size=16))
    op = st.tuples(st.sampled_from(_OPS), st.integers(0, 1 << 24), st.integers(0, 1 << 16), extra)
    return st.builds(mutate, st.sampled_from(list(seeds)), st.lists(op, min_size=1, max_size=max_ops))


# ---- cost ------------------------------------------------------------------------------------

def _prefixes(libraries: Sequence[str]) -> tuple[str, ...]:
    own = tuple(str(ROOT / d) + os.sep for d in ("scanner", "detectors", "reports"))
    libs = tuple(os.path.dirname(sys.modules[name].__file__ or "") + os.sep for name in libraries)
    return own + libs


def lines_run(fn: Callable[[], Any], libraries: Sequence[str] = ()) -> int:
    """Python lines ``fn()`` executes in the project's modules and in ``libraries`` (module names):
    a deterministic measure of its work, whatever else runs on the machine."""
    prefixes = _prefixes(libraries)
    count = 0

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return local

    def tracer(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(prefixes):
            return local
        return None

    old = sys.gettrace()
    sys.settrace(tracer)
    threading.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(old)
        threading.settrace(old)  # type: ignore[arg-type]
    return count


def cpu_seconds(fn: Callable[[], Any], repeat: int = 3) -> float:
    """The least CPU time of ``repeat`` runs of ``fn()`` (the least is the one others disturbed least)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def assert_linear_lines(make: Callable[[int], Any], run: Callable[[Any], Any], n: int,
                        libraries: Sequence[str] = (), what: str = "") -> tuple[int, int]:
    """Lines run on ``make(n)`` and ``make(4 * n)``: the second at most :data:`LINEAR` times the first."""
    small, large = make(n), make(4 * n)
    run(small)  # caches and compiled patterns warm
    a = lines_run(lambda: run(small), libraries)
    b = lines_run(lambda: run(large), libraries)
    assert b <= LINEAR * max(a, 1), f"{what}: {a} lines for n={n}, {b} for 4n: not linear"
    return a, b


def assert_linear_cpu(make: Callable[[int], Any], run: Callable[[Any], Any], n: int, what: str = "") -> None:
    """CPU time on ``make(4 * n)`` at most :data:`LINEAR_CPU` times that on ``make(n)`` (``n`` large enough
    that the smaller run takes tens of milliseconds, so that the ratio means something)."""
    small, large = make(n), make(4 * n)
    run(small)
    a = cpu_seconds(lambda: run(small))
    b = cpu_seconds(lambda: run(large))
    assert b <= LINEAR_CPU * max(a, 0.005), f"{what}: {a:.3f}s for n={n}, {b:.3f}s for 4n: not linear"


# ---- memory ----------------------------------------------------------------------------------

def peak_bytes(fn: Callable[[], Any]) -> int:
    """The most memory Python allocated at any point while ``fn()`` ran, above what it started with."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def assert_flat_memory(make: Callable[[int], Any], run: Callable[[Any], Any], n: int, slack: int = 4 << 20,
                       what: str = "") -> tuple[int, int]:
    """A streaming reader: peak memory on ``make(4 * n)`` no more than on ``make(n)`` plus ``slack`` bytes."""
    small, large = make(n), make(4 * n)
    run(small)
    a = peak_bytes(lambda: run(small))
    b = peak_bytes(lambda: run(large))
    assert b <= a + slack, f"{what}: peak {a} bytes for n={n}, {b} for 4n: memory grows with the input"
    return a, b


def assert_linear_memory(make: Callable[[int], Any], run: Callable[[Any], Any], n: int,
                         what: str = "") -> tuple[int, int]:
    """A whole-document parser: peak memory on ``make(4 * n)`` at most :data:`LINEAR` times that on ``make(n)``."""
    small, large = make(n), make(4 * n)
    run(small)
    a = peak_bytes(lambda: run(small))
    b = peak_bytes(lambda: run(large))
    assert b <= LINEAR * max(a, 1 << 16), f"{what}: peak {a} bytes for n={n}, {b} for 4n: not linear"
    return a, b
