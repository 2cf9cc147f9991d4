cerebras_TOKEN ::= "csk-dds4yn5y3nb6ohur6j3me10idrhzbz6k4m899mmbgzvai3bp"
