cerebras_TOKEN := "csk-8fp2n1gfyspib0e1ob4eo7z6vdf48ocxtkw9gfptb4c0auyu"
