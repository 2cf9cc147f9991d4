langfuse_public_key1 = pk-lf-invalid
langfuse_secret_key1 = sk-lf-invalid
