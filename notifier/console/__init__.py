"""The responder and operations console served by the notifier's HTTP API (docs/console.md).

Pure read model and rules: `history` (what the console remembers of each episode), `worklist` (rows and
episode views), `plots` (inline SVG), `accounts` (users, roles, passwords, trusted proxies). Adapters:
`live` (server-sent events), `web` (FastAPI routes and templates), `cli` (`sepsis-alert console`).
"""
