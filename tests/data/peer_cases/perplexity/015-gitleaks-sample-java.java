String perplexityToken = "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";
