gcp_TOKEN :::= "AIza_auQtO3CDgCoEDyLSjNAH1DeSweImobpO41"
