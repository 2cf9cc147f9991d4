System.setProperty("OPENROUTER_TOKEN", "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")
