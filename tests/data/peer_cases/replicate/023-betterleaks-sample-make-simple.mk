replicate_TOKEN := "r8_BNJdXqLpGpUfzrPt4OI9khQsoCBukeH0mVdqO"
