replicate_TOKEN :::= "r8_PlfwWFf13mtIJzBsykRlWNYguVlVL0LNzhKYX"
