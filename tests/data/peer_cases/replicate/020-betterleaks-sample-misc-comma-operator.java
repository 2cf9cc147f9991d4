System.setProperty("REPLICATE_TOKEN", "r8_DkTmZWKix7H1cYeV3ahWlENcCgpIgNkeUeZ4P")
