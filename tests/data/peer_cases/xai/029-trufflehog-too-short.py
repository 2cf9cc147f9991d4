xai_token = 'xai-ATUfDeFLMCcbCTjCST094hcgWrjAR1Yew9caaC7C0'
