$gcpToken .= "AIzaFqpLkKZOW-yWSpNjNbwHxuHd156Zl1sO782"
