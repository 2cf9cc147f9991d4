var perplexityToken = "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"
