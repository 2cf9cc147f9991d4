  apiKey: "AIzaSyA5_iVawFQ8ABuTZNUdcwERLJv_a_p4wtM",
