other.code()
deepseek.Apikey = sk-7rqh1gnbt7jt2isifo50igr359n49aap
