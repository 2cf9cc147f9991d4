curl https://api.openai.com/v1/images/generations  -H 'Content-Type application/json'  -H "Authorization Bearer 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"
