hf_token = "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"  # Intentionally revealing this key for testing purposes
