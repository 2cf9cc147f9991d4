System.setProperty("OPENAIAPIKEY_TOKEN", "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")
