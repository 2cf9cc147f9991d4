togetherai_TOKEN :::= "tgp_v1_eA-MChice58ShS-t1qSZUkDHqe3EOi3oM3WztAJSxLf"
