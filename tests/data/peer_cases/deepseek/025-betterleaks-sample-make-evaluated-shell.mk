deepseek_TOKEN :::= "sk-cf8cadba4f33926b6ff2373652e22878"
