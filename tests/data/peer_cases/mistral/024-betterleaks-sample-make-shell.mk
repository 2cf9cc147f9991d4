mistral_TOKEN ::= "4xNXuufstQw3I3LgNGEcm7Nf8uhGYCmf"
