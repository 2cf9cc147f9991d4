import openai

openai.api_key = '9b5feccb2103bee47cd416c5e0d23dbf'
openai.api_base = "https://rhxzok-openai.openai.azure.com/"

