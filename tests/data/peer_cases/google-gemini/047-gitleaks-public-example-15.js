  apiKey: "AIzaSyB8qGxt4ec15vitgn44duC5ucxaOi4FmqE",
