ngc token = 'UaEOWdNTg4bfkDn3KBoUhhkvNp:aPaD5MhC-ll3V-4o6V-M9oq-AcpdXmeCsUhw'
