$deepseekToken .= "sk-c1e16f428b0e04fcf5ebe4174612f497"
