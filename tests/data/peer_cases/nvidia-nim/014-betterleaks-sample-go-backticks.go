nvidiaToken := `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`
