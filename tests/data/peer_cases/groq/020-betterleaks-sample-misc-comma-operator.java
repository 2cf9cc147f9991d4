System.setProperty("GROQ_TOKEN", "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")
