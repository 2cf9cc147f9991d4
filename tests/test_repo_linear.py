"""The repo detector's work grows linearly with a file's size, whatever the file repeats.

A file built to be slow (``sk-proj-`` repeated: every prefix ran its regex to the end of
the same run) used to take 10 s at 16 KB and 41 s at 32 KB, long enough to time the
detector out and lose the real keys elsewhere. Each case here scans an adversarial input
and the same input four times as long; linear work costs about 4x, quadratic work 16x.
The measure is this process's CPU time (best of a few runs), compared as a generous
ratio, never against a wall-clock threshold.
"""

from __future__ import annotations

import json
import time

import pytest

from detectors.repo.content import Lines, scan_bytes
from detectors.repo.rules import MODEL_ANCHORS, Rules
from scanner.catalog import Catalog

CATALOG = Catalog.load()
RULES = Rules.build(CATALOG)
SIZE = 4000  # bytes of the smaller input; the larger one is GROWTH times longer
GROWTH = 4
MAX_RATIO = 9.0  # linear: ~4; quadratic: ~16


def _cpu(name: str, data: bytes, repeats: int = 2) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        scan_bytes(RULES, name, data)
        best = min(best, time.process_time() - start)
    return max(best, 1e-4)


def _repeated(unit: str, size: int) -> bytes:
    """``unit`` back to back, then with a separator, then as an assignment, all on one line."""
    parts = (unit, unit + "-", unit + '="abcdefghijklmnop" ')
    return b"".join((p * (size // 3 // len(p) + 1)).encode() for p in parts)


def _assert_linear(name: str, build) -> None:  # type: ignore[no-untyped-def]
    small, large = build(SIZE), build(SIZE * GROWTH)
    for attempt in range(2):  # a second, longer measurement before calling a noisy one a failure
        ratio = _cpu(name, large, 2 + 2 * attempt) / _cpu(name, small, 2 + 2 * attempt)
        if ratio < MAX_RATIO:
            return
    pytest.fail(f"{name}: {GROWTH}x the input cost {ratio:.1f}x the work (linear would be about {GROWTH}x)")


KEY_PREFIXES = sorted({p for k in CATALOG.key_formats for p in k.prefixes})
CONTEXT_ANCHORS = sorted({a.decode() for a in RULES.context_anchors} | {m.decode() for m in MODEL_ANCHORS})


def test_the_catalogue_gives_the_cases_below() -> None:
    assert len(KEY_PREFIXES) > 25 and "sk-proj-" in KEY_PREFIXES and "KEY" in CONTEXT_ANCHORS and "token" in CONTEXT_ANCHORS


@pytest.mark.parametrize("prefix", KEY_PREFIXES)
def test_every_key_prefix_repeated_scans_in_linear_time(prefix: str) -> None:
    _assert_linear("config.py", lambda size: _repeated(prefix, size))


@pytest.mark.parametrize("anchor", CONTEXT_ANCHORS)
def test_every_context_anchor_repeated_scans_in_linear_time(anchor: str) -> None:
    _assert_linear("settings.py", lambda size: _repeated(anchor, size))


def _mcp(size: int) -> bytes:
    servers = {f"server{i}": {"command": "npx", "args": ["-y", f"pkg{i}"]} for i in range(size // 40)}
    return json.dumps({"mcpServers": servers}).encode()


def _secret(size: int) -> bytes:
    entries = "".join(f"  KEY_{i}: c2stcHJvai1hYmNk\n" for i in range(size // 28))
    return f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n{entries}".encode()


@pytest.mark.parametrize("name,build", [
    ("app.py", lambda n: _repeated("import ", n)),
    ("app.py", lambda n: _repeated("https://localhost:11434/", n)),
    ("app.py", lambda n: _repeated("base_url=", n)),
    ("app.py", lambda n: _repeated('client("', n)),
    ("app.js", lambda n: _repeated("require('", n)),
    ("app.js", lambda n: _repeated("from '", n)),
    ("main.rs", lambda n: _repeated("use ", n)),
    ("main.rs", lambda n: _repeated("// async_openai::", n)),
    ("main.go", lambda n: _repeated('"github.com/', n)),
    ("notebook.ipynb", lambda n: _repeated("\\nsk-proj-", n)),
    ("pnpm-lock.yaml", lambda n: b"lockfileVersion: '9.0'\n" + b"\n" * n + b"  openai@4.0.0:\n"),
    ("go.mod", lambda n: b"module x\n" + b"\n" * n + b"require github.com/sashabaranov/go-openai v1.0.0\n"),
    (".mcp.json", _mcp),
    ("secret.yaml", _secret),
], ids=["py-import", "py-local-url", "py-base-url", "py-client", "js-require", "js-from", "rs-use", "rs-comment",
        "go-import", "notebook", "pnpm-blank-lines", "go-mod-blank-lines", "mcp-servers", "k8s-secret-keys"])
def test_file_type_families_scan_in_linear_time(name: str, build) -> None:  # type: ignore[no-untyped-def]
    _assert_linear(name, build)


def test_line_bounds_agree_with_a_newline_scan() -> None:
    """``Lines`` answers from a short local search or from its index; both give the true bounds."""
    lengths = [0, 1, 5, 511, 512, 513, 1500, 3000]
    data = b"\n".join(b"a" * n for n in lengths + lengths[::-1])
    lines = Lines(data)
    for pos in range(0, len(data) + 1, 3):
        end = data.find(b"\n", pos)
        assert lines.start(pos) == data.rfind(b"\n", 0, pos) + 1
        assert lines.end(pos) == (len(data) if end < 0 else end)
        assert lines.of(pos) == data.count(b"\n", 0, pos) + 1
