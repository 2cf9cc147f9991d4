System.setProperty("PERPLEXITY_TOKEN", "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")
