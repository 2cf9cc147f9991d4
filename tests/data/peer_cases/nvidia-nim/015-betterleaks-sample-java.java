String nvidiaToken = "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";
