System.setProperty("DEEPSEEK_TOKEN", "sk-532f9eb18268b9bf6fe71fff178f1e12")
