        os.environ.get("HF_AUTH_TOKEN",
        "hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
