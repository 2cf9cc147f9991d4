mistralToken = "9upFyk9AKLZAItiGuq9JNH3b27dc7NCt"
