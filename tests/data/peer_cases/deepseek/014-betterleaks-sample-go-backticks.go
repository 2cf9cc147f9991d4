deepseekToken := `sk-42298a851d9ea0aa0b5eeaf317f05741`
