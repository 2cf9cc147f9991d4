replicate token = 'r8_BE84cRegjwPofSRr20rS2eqqN3tt8DQvBmlN9'
