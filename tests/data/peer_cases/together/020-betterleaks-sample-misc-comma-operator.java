System.setProperty("TOGETHERAI_TOKEN", "tgp_v1_Jpd8iMahieicAmvS88gMONLFCAfANlcqQxVj4Mh74yf")
