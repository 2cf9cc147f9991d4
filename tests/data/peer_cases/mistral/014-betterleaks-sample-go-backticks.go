mistralToken := `J2c87PZrLG6pe92c3DrxRQpWPRz7M73D`
