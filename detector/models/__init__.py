"""Committed model artifacts (risk_model.json: see docs/model-card.md). A package so that package-data ships them."""
