System.setProperty("GCP_TOKEN", "AIza7bI0Jp4ESIDVkAT5cHkyHZzEaV1HEkMeTLf")
