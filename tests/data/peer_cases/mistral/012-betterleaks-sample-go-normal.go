var mistralToken string = "hw4VuKq4gdySLfUQGU0oEEGzMj84iysS"
