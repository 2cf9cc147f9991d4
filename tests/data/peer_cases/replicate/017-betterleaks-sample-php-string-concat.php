$replicateToken .= "r8_z6JCcwFQ8B460zYcay0gMSEprn3BNO90i5Ufs"
