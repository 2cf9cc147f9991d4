var deepseekToken string = "sk-4e7716aefd60c466b2dea58f931e543f"
