$openaiApiKeyToken .= "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"
