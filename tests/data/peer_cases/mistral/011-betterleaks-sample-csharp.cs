string mistralToken = "swKfgwv61Qv8zyAd7bTkuqyIH6OVaM7S";
