  apiKey: "AIzayDNSXIbFmlXbIE6mCzDLQAqITYefhixbX4A",
