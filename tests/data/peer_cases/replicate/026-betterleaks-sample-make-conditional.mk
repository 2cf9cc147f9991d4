replicate_TOKEN ?= "r8_jwX30ouo3Dr3h8rnMmlw0Uy6HLLt5tGNIPwbz"
