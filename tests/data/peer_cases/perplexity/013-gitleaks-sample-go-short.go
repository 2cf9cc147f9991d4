perplexityToken := "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"
