nvidiaToken := "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"
