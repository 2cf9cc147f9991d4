togetherai_TOKEN ::= "tgp_v1_QDfyVihMZI6KHWVfwRdbKTA96tI2tQZGj7788R837Xg"
