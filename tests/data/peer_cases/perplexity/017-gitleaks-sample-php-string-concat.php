$perplexityToken .= "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"
