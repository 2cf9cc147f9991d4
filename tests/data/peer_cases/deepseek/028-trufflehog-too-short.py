deepseek.key = sk-zeg5p9wf18ef
