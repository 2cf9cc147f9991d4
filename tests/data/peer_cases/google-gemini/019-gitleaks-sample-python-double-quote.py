gcpToken = "AIzaV2u_xThM0_FCI3ivG6ODIgOYW4NiLfSZp_5"
