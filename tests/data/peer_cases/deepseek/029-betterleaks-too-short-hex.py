deepseek_key = sk-e2f470cd775d7bb4f94f57
