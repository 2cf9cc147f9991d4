var replicateToken string = "r8_iwAYAWBBRJX99uXo0XPFLjydjuBlfpCEleVoR"
