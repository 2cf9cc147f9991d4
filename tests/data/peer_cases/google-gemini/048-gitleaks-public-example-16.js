  apiKey: "AIzaSyA8vmApnrHNFE0bApF4hoZ11srVL_n0nvY",
