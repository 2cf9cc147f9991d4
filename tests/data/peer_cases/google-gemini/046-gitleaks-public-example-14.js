  apiKey: "AIzaSyBcE-OOIbhjyR83gm4r2MFCu4MJmprNXsw",
