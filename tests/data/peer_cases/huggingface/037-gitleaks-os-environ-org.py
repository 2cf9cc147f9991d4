os.environ['HUGGINGFACEHUB_API_TOKEN'] = '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'
