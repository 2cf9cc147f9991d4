replicate token = 'r8_bacDQ7OC6AmDlYgfTrD?wHDbgp6f8lw6Do7uP'
