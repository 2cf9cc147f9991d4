deepseekToken = "sk-a3ceaea070cd2a90b98682957857cf0a"
