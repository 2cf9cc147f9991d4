gcp_TOKEN ::= "AIzaDtt2n8WZXZXeqIMskZO1mVrvgnoEsvwH4CX"
