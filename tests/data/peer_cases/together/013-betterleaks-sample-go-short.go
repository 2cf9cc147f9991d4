togetheraiToken := "tgp_v1_-2_-MHSajuAJhKQK-4dD4XBUzEj6WidNxYhbyRmo8un"
