$mistralToken .= "Pwx09cnPSwTVHdtpnE0tB7ZRwavWn9xi"
