perplexity_TOKEN :::= "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"
