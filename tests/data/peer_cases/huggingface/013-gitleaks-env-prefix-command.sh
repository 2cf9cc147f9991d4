DEV=1 HF_TOKEN=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 poetry run python app.py
