System.setProperty("CEREBRAS_TOKEN", "csk-nb373bmc8zdypsiuntwsqjzxnjw9ak34oq4rbxmapz72i3ky")
