string perplexityToken = "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";
