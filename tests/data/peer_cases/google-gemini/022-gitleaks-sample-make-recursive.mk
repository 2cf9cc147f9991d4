gcp_TOKEN = "AIza_eJHujztuItmvBiDEZ7_wsD8J-aTyT8Xl3S"
