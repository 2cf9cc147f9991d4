String togetheraiToken = "tgp_v1_69G-c0zN4AziVLW86BXnZlJXOUOXGUrh6Iv2DTWVcXg";
