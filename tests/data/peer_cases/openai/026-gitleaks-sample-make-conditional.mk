openaiApiKey_TOKEN ?= "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"
