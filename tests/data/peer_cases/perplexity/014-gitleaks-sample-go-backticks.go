perplexityToken := `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`
