  apiKey: "AIzaSyAnLA7NfeLquW1tJFpx_eQCxoX-oo6YyIs",
