deepseekToken := "sk-c4bc5e95670b170a4e59e25cef765fb8"
