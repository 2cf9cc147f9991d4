openaiApiKey_TOKEN ::= "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"
