string openaiApiKeyToken = "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";
