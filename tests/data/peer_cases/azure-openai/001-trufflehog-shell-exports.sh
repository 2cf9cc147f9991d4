export OPENAI_API_VERSION=2023-07-15-preview
export OPENAI_API_TYPE=AZURE
export OPENAI_API_BASE=https://pwibgk-openai.openai.azure.com/
export OPENAI_API_KEY=311649a20c61f14416926eb7f70fdf81
