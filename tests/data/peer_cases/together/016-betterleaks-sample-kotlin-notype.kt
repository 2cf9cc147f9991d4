var togetheraiToken = "tgp_v1_sh5-BiRyOvP1H5M4UViaMJQDDztdlDMFtBfoE3YZKH_"
