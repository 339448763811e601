"""What is done inside one appliance: the drives it gets and the calls after launch."""
