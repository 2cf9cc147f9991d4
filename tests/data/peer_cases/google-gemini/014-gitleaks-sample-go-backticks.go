gcpToken := `AIzaLldFxaIw27wan0UMSsEH5P2_TElTy1K9K4B`
