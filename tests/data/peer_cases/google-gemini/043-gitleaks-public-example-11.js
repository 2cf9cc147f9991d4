  apiKey: "AIzaSyA4UrcGxgwQFTfaI3no3t7Lt1sjmdnP5sQ",
