deepseek_TOKEN = "sk-be37cc368f13bfc12abfd8d98e8a4d6d"
