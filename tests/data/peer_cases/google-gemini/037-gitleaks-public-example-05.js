  apiKey: "AIzaSyD3asb-2pEZVqMkmL6M9N6nHZRR_znhrh0",
