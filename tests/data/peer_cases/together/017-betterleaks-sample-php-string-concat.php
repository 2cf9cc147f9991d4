$togetheraiToken .= "tgp_v1_TMs8djPESIIoMofAjh6XT0lp86DVwImegJax7SLsOIe"
