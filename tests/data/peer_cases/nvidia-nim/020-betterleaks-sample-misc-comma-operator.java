System.setProperty("NVIDIA_TOKEN", "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")
