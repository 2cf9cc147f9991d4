var togetheraiToken string = "tgp_v1_BRZlO0gMnIQs-PsiPt1gGjEFUzgBQNj84L5oAXKj1a6"
