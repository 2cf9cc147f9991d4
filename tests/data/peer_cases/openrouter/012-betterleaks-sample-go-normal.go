var openrouterToken string = "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"
