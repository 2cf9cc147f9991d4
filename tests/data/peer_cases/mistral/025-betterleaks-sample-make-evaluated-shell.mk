mistral_TOKEN :::= "3cZwCviKirId10KjWmxdV3IedfrPaEWi"
