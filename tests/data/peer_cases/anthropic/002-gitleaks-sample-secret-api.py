anthropic_api_token = "sk-ant-api03-Upw-Kv3-hGP52F2hF64dfKzCyRoqoAEJkulF05nNTSMwTEi--cj7Vb2qu8rpE-iqe33brLsk-Lp-_Tn7xYhiKTpFTdj_vAA"
