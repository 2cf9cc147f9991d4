var nvidiaToken = "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"
