System.setProperty("MISTRAL_TOKEN", "Q1FK3F2iUUYPCLveW8r0TDqtKcq58qEh")
