replicate_TOKEN ::= "r8_LRxcpEeM3DwyOBhRhOGxBppWP4pXDDIUXvobw"
