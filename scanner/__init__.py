"""shadow-agent-scanner: find every program that calls an LLM API and compare it with the approved registry."""

__version__ = "0.1.0"
