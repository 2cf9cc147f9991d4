$openrouterToken .= "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"
