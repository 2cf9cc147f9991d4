String openrouterToken = "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";
