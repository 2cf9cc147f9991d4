openrouterToken := "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"
