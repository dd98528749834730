"""Training the learned sepsis risk score (issue 8)."""
