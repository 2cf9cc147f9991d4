var openaiApiKeyToken = "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"
