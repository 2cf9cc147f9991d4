assemblyai = b42bc39fc202798008dab3c3
