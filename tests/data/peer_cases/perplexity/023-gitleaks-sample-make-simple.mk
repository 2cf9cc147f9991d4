perplexity_TOKEN := "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"
