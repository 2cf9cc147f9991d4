cerebrasToken := `csk-xsy7n0s576ak0pcb6ftxte3nee3m4c0lhy6nyrtncqm2viv4`
