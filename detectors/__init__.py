"""Built-in detectors. Each is a plugin registered in the ``shadow_agents.detectors`` entry-point group."""
