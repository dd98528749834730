"""Packaged detector configuration files (default.yaml)."""
