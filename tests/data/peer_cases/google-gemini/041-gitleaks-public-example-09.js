  apiKey: "AIzaSyANUvH9H9BsUccjsu2pCmEkOPjjaXeDQgY",
