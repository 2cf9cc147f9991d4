  apiKey: "AIzaSyAdOS2zB6NCsk1pCdZ4-P6GBdi_UUPwX7c",
