String openaiApiKeyToken = "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";
