string togetheraiToken = "tgp_v1_TOceYvofcTqQBYiKing7S-wJw3Jw6_9blnjyWss0ZJJ";
