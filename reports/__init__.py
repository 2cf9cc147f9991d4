"""Built-in report formats. Each is a plugin registered in the ``shadow_agents.reports`` entry-point group."""

__distribution__ = "shadow-agent-scanner"  # checked at start-up: see scanner/installation.py
