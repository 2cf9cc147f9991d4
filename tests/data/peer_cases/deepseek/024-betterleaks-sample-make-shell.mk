deepseek_TOKEN ::= "sk-91651e1d3734a446bf4e58c55c7ea9b3"
