openaiApiKey_TOKEN :::= "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"
