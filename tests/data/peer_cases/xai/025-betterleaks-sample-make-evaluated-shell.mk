xai_TOKEN :::= "xai-r16m4Xg-vGnqCMsVA0xB58yUrx0AhvlbDkSbTbpb4igNPcg1CP1nj-jQ3oPU5k1It3Cx8ws3nZpx4Ik4UrZw"
