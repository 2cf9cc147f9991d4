langfuse_public_key = pk-lf-765d24d1-5d15-095b-ae84-54694419b4f7
langfuse_secret_key = sk-lf-b354b681-9efd-aa8d-e82c-74e787c81857
