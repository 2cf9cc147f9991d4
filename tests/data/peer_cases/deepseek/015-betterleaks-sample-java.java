String deepseekToken = "sk-6df12037d7645c5e131ca5a03e28853c";
