$cerebrasToken .= "csk-plktd4w1my9byr7n79ubb5tqnrii4260r0od010w6tyw8uxc"
