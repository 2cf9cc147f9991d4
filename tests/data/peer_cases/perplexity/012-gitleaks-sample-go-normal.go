var perplexityToken string = "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"
