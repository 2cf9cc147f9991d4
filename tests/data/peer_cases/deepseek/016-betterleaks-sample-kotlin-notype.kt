var deepseekToken = "sk-9b080853d0a5302ab92c2abc82529466"
