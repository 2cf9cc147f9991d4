gcpToken = 'AIza0kuWMu5M1u1DIqh0NRkhyQbpaoGWeqnDriA'
