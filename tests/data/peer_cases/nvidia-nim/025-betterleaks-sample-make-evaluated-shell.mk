nvidia_TOKEN :::= "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"
