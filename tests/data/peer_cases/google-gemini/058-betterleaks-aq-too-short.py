gemini_api_key = "AQ.Ab8RN65SiYnRT_2gtk9kuDhIdu7yraoW3rG5NWdHXVxI"
