# Not critical, only usable on the sandboxed CI instance.
TOKEN = "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"
