gcp_TOKEN := "AIzaS0_dGcAKthl8VWoM_WFh0t9D6emujbqR8Qr"
