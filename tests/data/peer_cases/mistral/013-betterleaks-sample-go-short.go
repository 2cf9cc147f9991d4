mistralToken := "1vIR4zCW9zksGRlicQp0SimjjtrMnpw2"
