"""shadow-agent-scanner: find every program that calls an LLM API and compare it with the approved registry."""

__distribution__ = "shadow-agent-scanner"  # checked at start-up: see scanner/installation.py

__version__ = "0.1.0"
