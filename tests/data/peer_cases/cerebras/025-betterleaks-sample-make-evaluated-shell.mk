cerebras_TOKEN :::= "csk-2snz6syfcq3x5izxv1hpo6n2douqdno8t87his99gvloidj4"
