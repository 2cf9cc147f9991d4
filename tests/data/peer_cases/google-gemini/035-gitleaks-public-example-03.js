  apiKey: "AIzaSyCkEhVjf3pduRDt6d1yKOMitrUEke8agEM",
