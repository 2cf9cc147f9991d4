var cerebrasToken string = "csk-268rvamfh4hrvczv2wrobgupby95lpo2p3l8ojuoxgfx50m1"
