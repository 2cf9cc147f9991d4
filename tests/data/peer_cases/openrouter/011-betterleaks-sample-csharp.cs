string openrouterToken = "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";
