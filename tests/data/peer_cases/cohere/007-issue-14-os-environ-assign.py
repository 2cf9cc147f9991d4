os.environ["COHERE_API_KEY"] = "HRFdo2BfTjRhFd00RYnUPdlSi0KdyMyP3YUxR1jv"
