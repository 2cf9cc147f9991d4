mistralToken = 'erqFLJqPBste2SiavOpQjPqhtd5a3e9c'
