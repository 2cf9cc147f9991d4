gemini_api_key = "AQ.Ab8RN5fwGszmTVn4h1TRAsT-bUmyhqNYqvhSF-5e6j2TnQTfi6"
