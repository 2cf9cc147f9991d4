var replicateToken = "r8_Qlsbyno2sjC85ewBqYp2uiThkHTxBXN490QQ4"
