var gcpToken string = "AIzaQxsocoR2eqDxqg5ZkTK67G3O4J2njBDGKVy"
