gcp_TOKEN ?= "AIzadQyVPQa1B_zztPAPOxaklwbQZ52QkZAJSrs"
