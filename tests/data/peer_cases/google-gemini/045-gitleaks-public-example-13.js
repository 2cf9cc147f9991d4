  apiKey: "AIzaSyBF2RrAIm4a0mO64EShQfqfd2AFnzAvvuU",
