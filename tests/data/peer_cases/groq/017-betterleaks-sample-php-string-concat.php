$groqToken .= "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"
