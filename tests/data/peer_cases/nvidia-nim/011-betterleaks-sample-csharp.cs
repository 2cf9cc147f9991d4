string nvidiaToken = "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";
