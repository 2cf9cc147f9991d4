deepseek_TOKEN := "sk-13cf52aced903881bc620a5663cc01cf"
