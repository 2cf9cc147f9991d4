cerebrasToken := "csk-ryhb9ptuvc4ox2vnky3i9iwv5hu8yh4l8qnpvhjahtmur377"
