    parser.add_argument("--hf_token", type=str, default='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', help="Hugging Face Access Token to access PyAnnote gated models")
