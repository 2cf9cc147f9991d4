openaiApiKeyToken := `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`
