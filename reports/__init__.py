"""Built-in report formats. Each is a plugin registered in the ``shadow_agents.reports`` entry-point group."""
