var openrouterToken = "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"
