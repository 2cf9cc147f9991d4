string replicateToken = "r8_ZKDGjJNHD6PuexxzcNFyjgkeak7QrgQK0T9lY";
