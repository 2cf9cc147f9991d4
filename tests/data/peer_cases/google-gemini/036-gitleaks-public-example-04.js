  apiKey: "AIzaSyDMAScliyLx7F0NPDEJi1QmyCgHIAODrlU",
