  apiKey: "AIzaSyabcdefghijklmnopqrstuvwxyz1234567",
