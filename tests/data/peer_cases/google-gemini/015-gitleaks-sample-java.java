String gcpToken = "AIzadJ_Uixq4LHpSco5IwV252bYJF3nh73aPjog";
