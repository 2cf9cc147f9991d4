gcpToken := "AIza8LVyP_fU1-8cQ2Q_CFe_I83SUVJnRdL1Fjf"
