  apiKey: "AIzaSyASWm6HmTMdYWpgMnjRBjxcQ9CKctWmLd4",
