deepseekToken = 'sk-f2d22304e34c57b91cdb5d6206f9af7a'
