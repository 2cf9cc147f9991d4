openrouter_TOKEN :::= "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"
