string deepseekToken = "sk-f9c7cf8da012bb7a4b4b9431aee3a78c";
