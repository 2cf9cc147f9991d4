openaiApiKeyToken := "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"
