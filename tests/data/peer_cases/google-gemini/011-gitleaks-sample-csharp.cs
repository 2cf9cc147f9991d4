string gcpToken = "AIzayzAskWUfJug5gKLYfSmTHs4PLpxs9Vq9Cfa";
