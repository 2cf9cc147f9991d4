var cerebrasToken = "csk-lqqiicoiyi332t82m9ipgpvakoqltnw28ara0jf969r44mcs"
