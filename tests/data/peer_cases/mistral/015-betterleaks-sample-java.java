String mistralToken = "RqfdkTunBmNgClofYCd5EN3qzcjfA9L1";
