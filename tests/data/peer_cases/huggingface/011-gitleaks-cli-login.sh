huggingface-cli login --token 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
