"""Notifier: routes alert transitions to pagers and chat, de-duplicates, retries, escalates until acknowledged.

Layout: `core/` pure decisions (routing, silence, dedup, throttle, retry policy,
escalation, grouping, PHI, links, signing); `stages/` one pipeline stage per module;
`integrations/` one module per receiver type; `adapters/` Kafka and HTTP;
`app.py` wiring; `cli.py` the `notify`, `ack` and `silence` commands.
"""
