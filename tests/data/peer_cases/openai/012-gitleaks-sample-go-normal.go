var openaiApiKeyToken string = "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"
