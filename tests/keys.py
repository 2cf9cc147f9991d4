"""Realistic, random (seeded) provider keys for tests. None is a real credential."""

from __future__ import annotations

import random
import string

from scanner.secrets import is_placeholder

ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"
HEX = "0123456789abcdef"


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


# provider id -> (key format id, builder)
SHAPES = {
    "openai-project": lambda r: "sk-proj-" + _rand(r, B64URL, 74) + "T3BlbkFJ" + _rand(r, B64URL, 74),
    "openai-legacy": lambda r: "sk-" + _rand(r, ALNUM, 20) + "T3BlbkFJ" + _rand(r, ALNUM, 20),
    "anthropic-api": lambda r: "sk-ant-api03-" + _rand(r, B64URL, 93) + "AA",
    "google-ai-studio": lambda r: "AIza" + _rand(r, B64URL, 35),
    "groq": lambda r: "gsk_" + _rand(r, ALNUM, 52),
    "huggingface": lambda r: "hf_" + _rand(r, string.ascii_letters, 34),
    "replicate": lambda r: "r8_" + _rand(r, ALNUM, 37),
    "perplexity": lambda r: "pplx-" + _rand(r, ALNUM, 48),
    "xai": lambda r: "xai-" + _rand(r, ALNUM, 80),
    "openrouter": lambda r: "sk-or-v1-" + _rand(r, HEX, 64),
    "deepseek": lambda r: "sk-" + _rand(r, HEX, 32),
    "mistral": lambda r: _rand(r, ALNUM, 32),
    "cohere": lambda r: _rand(r, ALNUM, 40),
    "azure-openai": lambda r: _rand(r, HEX, 32),
}


def make_key(shape: str, seed: int = 0) -> str:
    rng = random.Random(f"{shape}:{seed}")
    build = SHAPES.get(shape) or USAGE_GATED_SHAPES[shape]
    while True:
        key = build(rng)
        if not is_placeholder(key, key[:8]):
            return key


# More shapes (appended): the remaining self-identifying formats of the catalogue.
SHAPES.update({
    "openai-service-account": lambda r: "sk-svcacct-" + _rand(r, B64URL, 74) + "T3BlbkFJ" + _rand(r, B64URL, 74),
    "openai-admin": lambda r: "sk-admin-" + _rand(r, B64URL, 74) + "T3BlbkFJ" + _rand(r, B64URL, 74),
    "anthropic-admin": lambda r: "sk-ant-admin01-" + _rand(r, B64URL, 93) + "AA",
    "fireworks": lambda r: "fw_" + _rand(r, ALNUM, 24),
    "together": lambda r: "tgp_v1_" + _rand(r, B64URL, 43),
    "cerebras": lambda r: "csk-" + _rand(r, "abcdefghjkmnpqrstuvwxyz23456789", 48),
    "langsmith": lambda r: "lsv2_pt_" + _rand(r, HEX, 32) + "_" + _rand(r, HEX, 10),
    "aws-bedrock": lambda r: "ABSKQmVkcm9ja0FQSUtleS" + _rand(r, ALNUM + "+/", 110),
})

# AWS credentials count only next to Bedrock use (``requires_usage`` in the catalogue), so they
# are kept apart from SHAPES, whose keys are findings wherever they appear.
USAGE_GATED_SHAPES = {
    "aws-access-key-id": lambda r: "AKIA" + _rand(r, string.ascii_uppercase + "234567", 16),
    "aws-secret-access-key": lambda r: _rand(r, ALNUM + "+/", 40),
}
