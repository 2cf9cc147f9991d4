"""Reproducible corpus for the repo detector benchmark: real source files plus planted keys and look-alikes.

The base tree is copied, in sorted order, from the sources of installed Python
packages (the interpreter's standard library and site-packages), up to the wanted
size. Then, with a seeded RNG, it plants ``per_shape`` synthetic keys of every shape
in ``tests/keys.py`` and as many look-alike negatives (fill placeholders, text
placeholders, truncated doc examples, hashes, UUIDs, near-miss identifiers) — half
in new small files of typical kinds (.env, YAML, JSON, notebooks, tfvars, compose,
shell, CI workflows), half appended to copied files. ``planted.json`` next to the
corpus records where each one is (path, line, shape, provider), never the value.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import string
import sys
import sysconfig
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.keys import SHAPES, make_key  # noqa: E402

TEXT_EXT = {".py", ".pyi", ".js", ".ts", ".json", ".yaml", ".yml", ".toml", ".md", ".rst", ".txt", ".cfg", ".ini",
            ".sh", ".c", ".h", ".html", ".css", ".xml", ".csv"}
MAX_SOURCE_FILE = 512 * 1024
VENDORED_NAMES = {"site-packages": "sitepkgs", "dist-packages": "distpkgs", "node_modules": "nodemods",
                  "vendor": "vendor_", "venv": "venv_", ".venv": "dotvenv", "__pycache__": "pycache_",
                  ".tox": "tox_", "env": "env_"}

# shape -> (provider id, variable a formatless key must be assigned to)
PROVIDER = {
    "openai-project": "openai", "openai-legacy": "openai", "openai-service-account": "openai", "openai-admin": "openai",
    "anthropic-api": "anthropic", "anthropic-admin": "anthropic", "google-ai-studio": "google-gemini",
    "groq": "groq", "huggingface": "huggingface", "replicate": "replicate", "perplexity": "perplexity", "xai": "xai",
    "openrouter": "openrouter", "deepseek": "deepseek", "mistral": "mistral", "cohere": "cohere",
    "azure-openai": "azure-openai", "fireworks": "fireworks", "together": "together", "cerebras": "cerebras",
    "langsmith": "langsmith", "aws-bedrock": "aws-bedrock",
}
CONTEXT_VAR = {"mistral": "MISTRAL_API_KEY", "cohere": "COHERE_API_KEY", "azure-openai": "AZURE_OPENAI_API_KEY"}
VAR = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "google-gemini": "GEMINI_API_KEY",
       "groq": "GROQ_API_KEY", "huggingface": "HF_TOKEN", "replicate": "REPLICATE_API_TOKEN",
       "perplexity": "PERPLEXITY_API_KEY", "xai": "XAI_API_KEY", "openrouter": "OPENROUTER_API_KEY",
       "deepseek": "DEEPSEEK_API_KEY", "fireworks": "FIREWORKS_API_KEY", "together": "TOGETHER_API_KEY",
       "cerebras": "CEREBRAS_API_KEY", "langsmith": "LANGSMITH_API_KEY", "aws-bedrock": "AWS_BEARER_TOKEN_BEDROCK",
       **{PROVIDER[s]: v for s, v in CONTEXT_VAR.items()}}


def source_roots() -> list[Path]:
    paths = sysconfig.get_paths()
    roots = {Path(paths["stdlib"]), Path(paths["purelib"]), Path(sys.base_prefix) / "lib"}
    for extra in ("/usr/lib/python3", "/usr/lib/python3.11", "/usr/share/doc", "/usr/share/perl", "/usr/include"):
        roots.add(Path(extra))
    return sorted(r for r in roots if r.is_dir())


def _safe_rel(rel: str) -> str:
    return "/".join(VENDORED_NAMES.get(p, p) for p in rel.split("/"))


def copy_base(dest: Path, size_bytes: int) -> int:
    """Copy text files (sorted, deduplicated by content) from the source roots until ``size_bytes``."""
    total, seen = 0, set()
    for root in source_roots():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                src = Path(dirpath) / name
                if src.suffix.lower() not in TEXT_EXT or src.is_symlink():
                    continue
                try:
                    data = src.read_bytes()
                except OSError:
                    continue
                if not data or len(data) > MAX_SOURCE_FILE or b"\0" in data[:4096]:
                    continue
                digest = hashlib.sha1(data).digest()
                if digest in seen:
                    continue
                seen.add(digest)
                rel = _safe_rel(f"{root.name}/{src.relative_to(root).as_posix()}")
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                total += len(data)
                if total >= size_bytes:
                    return total
    return total


def negatives(rng: random.Random, n: int) -> list[str]:
    """Look-alike lines no scanner should report."""
    alnum = string.ascii_letters + string.digits
    makers = [
        lambda: f"GROQ_API_KEY=gsk_{'X' * 52}",
        lambda: f"GEMINI_API_KEY=AIzaSy{'0' * 33}",
        lambda: f"PPLX_API_KEY=pplx-{'x' * 48}",
        lambda: f"MISTRAL_API_KEY={'x' * 32}",
        lambda: f"COHERE_API_KEY={'x' * 40}",
        lambda: "OPENAI_API_KEY=your-api-key-here",
        lambda: "OPENAI_API_KEY=<OPENAI_API_KEY>",
        lambda: "ANTHROPIC_API_KEY=${ANTHROPIC_API_KEY}",
        lambda: "api_key = os.environ['OPENAI_API_KEY']",
        lambda: "# e.g. sk-proj-abc123... (truncated)",
        lambda: "# key looks like sk-ant-api03-...AA",
        lambda: f"checksum = {hashlib.md5(str(rng.random()).encode()).hexdigest()}",
        lambda: f"sha1 = {hashlib.sha1(str(rng.random()).encode()).hexdigest()}",
        lambda: f"digest = {hashlib.sha256(str(rng.random()).encode()).hexdigest()}",
        lambda: f'etag = "{hashlib.md5(str(rng.random()).encode()).hexdigest()}"',
        lambda: f"request_id = {'-'.join(''.join(rng.choice('0123456789abcdef') for _ in range(k)) for k in (8, 4, 4, 4, 12))}",
        lambda: f"hf_{''.join(rng.choice(string.ascii_letters) for _ in range(33))}_model_cache",
        lambda: f"token_id = {''.join(rng.choice(alnum) for _ in range(32))}",
        lambda: f"session = {''.join(rng.choice(alnum) for _ in range(40))}",
        lambda: f"task-{''.join(rng.choice('0123456789abcdef') for _ in range(32))}",
    ]
    return [makers[i % len(makers)]() for i in range(n)]


def key_line(rng: random.Random, shape: str, key: str, kind: str) -> str:
    provider = PROVIDER[shape]
    var = CONTEXT_VAR.get(shape) or VAR[provider]
    if kind in (".env", ".sh", ".tfvars"):
        name = var.lower() if kind == ".tfvars" else var
        prefix = "export " if kind == ".sh" else ""
        return f'{prefix}{name} = "{key}"' if kind == ".tfvars" else f"{prefix}{var}={key}"
    if kind in (".yaml", ".yml"):
        return f"  {var}: {key}"
    if kind == ".json":
        return f'  "{var}": "{key}",'
    if kind == ".js":
        return f'const {var.lower()} = process.env.{var} || "{key}";' if shape not in CONTEXT_VAR else \
            f'process.env.{var} = "{key}";'
    return f'{var} = "{key}"'


def plant(dest: Path, per_shape: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    existing = sorted(p for p in dest.rglob("*") if p.is_file() and p.suffix in (".py", ".yaml", ".json", ".md", ".txt"))
    kinds = [".env", ".yaml", ".json", ".py", ".js", ".sh", ".tfvars", ".ipynb", ".yml"]
    records: list[dict] = []
    jobs = [(shape, i) for shape in sorted(SHAPES) for i in range(per_shape)]
    neg = negatives(rng, len(jobs))
    for n, (shape, i) in enumerate(jobs):
        key = make_key(shape, seed=1000 + i)
        for is_negative, text_maker in ((False, None), (True, neg[n])):
            if len(existing) and rng.random() < 0.5:
                target = existing[rng.randrange(len(existing))]
                kind = target.suffix
                line_text = text_maker if is_negative else key_line(rng, shape, key, ".py" if kind in (".md", ".txt") else kind)
                with target.open("ab") as fh:
                    fh.write(b"\n" + line_text.encode() + b"\n")
                line = target.read_bytes().count(b"\n")
            else:
                kind = kinds[rng.randrange(len(kinds))]
                folder = existing[rng.randrange(len(existing))].parent if existing else dest
                target, line = _new_file(folder, kind, rng, text_maker if is_negative else None, shape, key, n)
            rec = {"path": str(target.relative_to(dest)), "line": line, "negative": is_negative}
            if not is_negative:
                rec.update(shape=shape, provider=PROVIDER[shape])
            records.append(rec)
    return records


def _new_file(folder: Path, kind: str, rng: random.Random, negative: str | None, shape: str, key: str,
              n: int) -> tuple[Path, int]:
    filler = [f"# setting {j}" if kind not in (".json", ".ipynb") else f'  "setting_{j}": {j},' for j in range(rng.randrange(1, 12))]
    text = negative if negative is not None else key_line(rng, shape, key, ".py" if kind == ".ipynb" else kind)
    if kind == ".ipynb":
        out = json.dumps(text)[1:-1]
        lines = ["{", ' "cells": [', '  {"cell_type": "code", "source": [],', '   "outputs": [{"output_type": "stream",',
                 f'    "text": ["{out}\\n"]', "   }]}", " ],", ' "nbformat": 4', "}"]
        idx = 4
    elif kind == ".json":
        lines = ["{", *filler, f"  {text.strip()}" if negative is None else f'  "note": {json.dumps(text)},', '  "end": 1', "}"]
        idx = len(filler) + 1
    else:
        lines = [*filler, text]
        idx = len(filler)
    names = {".env": ".env.local", ".yaml": "settings.yaml", ".yml": "docker-compose.yml", ".json": "config.json",
             ".py": "llm_client.py", ".js": "client.js", ".sh": "deploy.sh", ".tfvars": "prod.tfvars",
             ".ipynb": "explore.ipynb"}
    target = folder / f"bench_{n:05d}_{'n' if negative else 'k'}_{names[kind]}"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target, idx + 1


def build(dest: Path, size_mb: float, per_shape: int, seed: int = 1) -> dict:
    """(Re)build the corpus at ``dest``; returns the manifest (also written to ``dest``.planted.json)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    base = copy_base(dest, int(size_mb * 1024 * 1024))
    records = plant(dest, per_shape, seed)
    total = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    manifest = {"base_bytes": base, "total_bytes": total, "planted": records}
    Path(str(dest) + ".planted.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest
