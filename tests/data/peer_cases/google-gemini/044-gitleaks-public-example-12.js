  apiKey: "AIzaSyDSb51JiIcB6OJpwwMicseKRhhrOq1cS7g",
