replicateToken := `r8_8QLjYdFQDxUbcpeev2EfXRde7Jc7yES8gfwrJ`
