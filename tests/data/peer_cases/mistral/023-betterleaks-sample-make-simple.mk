mistral_TOKEN := "8zXfVe9n8ZlxZYbs2skPuFG3PfRb7N3L"
