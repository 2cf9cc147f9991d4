cerebras_TOKEN ?= "csk-9ocp9qtpb07ia29s7ibs1qm3vgvs61f78nb8hvo1ldwi2nxs"
