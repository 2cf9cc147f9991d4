groq_TOKEN :::= "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"
