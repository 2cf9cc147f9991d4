var gcpToken = "AIzatM1QYZuvkbRU0i3UG0JZi6ABfGhzS8hWtvG"
