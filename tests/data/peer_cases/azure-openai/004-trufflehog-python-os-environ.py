os.environ["OPENAI_API_TYPE"] = "azure"
os.environ["OPENAI_API_VERSION"] = "2023-03-15-preview"
os.environ["OPENAI_API_BASE"] = "https://ansxhk-openai.openai.azure.com/"
os.environ["OPENAI_API_KEY"] = '2c7f950f300db96ad8d7d183279af5af'
