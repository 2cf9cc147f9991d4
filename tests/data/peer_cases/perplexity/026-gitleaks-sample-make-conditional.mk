perplexity_TOKEN ?= "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"
