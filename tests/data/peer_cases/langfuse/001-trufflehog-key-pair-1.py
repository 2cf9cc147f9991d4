langfuse_public_key = pk-lf-51377722-35f1-5ef0-56af-57fd49b5dd5d
langfuse_secret_key = sk-lf-4e81b841-29a5-a2af-4008-07ab3eef84d0
