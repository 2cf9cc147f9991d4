deepseek_TOKEN ?= "sk-f1544c8ffb285a72b31f47ded89bc2f2"
