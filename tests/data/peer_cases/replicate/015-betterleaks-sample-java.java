String replicateToken = "r8_crbdaVPjADPnEV5LdTLwVlmcp5bQXHvBcEzYv";
