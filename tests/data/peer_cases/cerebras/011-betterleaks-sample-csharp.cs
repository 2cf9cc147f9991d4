string cerebrasToken = "csk-8iaxmteqnpp8ox26yxm9vmo79jg28kkz99029se3spa1dqx9";
