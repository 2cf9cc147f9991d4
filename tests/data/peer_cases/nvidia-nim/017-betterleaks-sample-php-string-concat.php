$nvidiaToken .= "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"
