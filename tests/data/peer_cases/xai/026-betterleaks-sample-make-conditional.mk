xai_TOKEN ?= "xai-LUqegNp_UFrfnsIQrgU7grFeI-a2KjImcLuXUl-yityZl38oSH-wbDphoc2WIePhElx_1NRqxBOqfD1oMJAT"
