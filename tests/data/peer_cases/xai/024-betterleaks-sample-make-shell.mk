xai_TOKEN ::= "xai-aqVL_nTZ-vPyfg084h4Iy-eU-w2nhf9b6M3G_ehqnT7dyAH4M7j7OE842Ljr5Hl1GJM_4Bse_KGdml6sbwL0"
