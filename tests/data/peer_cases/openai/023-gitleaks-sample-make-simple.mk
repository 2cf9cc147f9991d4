openaiApiKey_TOKEN := "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"
