"""Built-in detectors. Each is a plugin registered in the ``shadow_agents.detectors`` entry-point group."""

__distribution__ = "shadow-agent-scanner"  # checked at start-up: see scanner/installation.py
