"""The clinical rules as data: every score table, band and threshold (tables.py) and their shapes (kinds.py).

Pure: no I/O. See docs/clinical-rules.md for how to change a rule.
"""
