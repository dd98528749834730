"""Escaping view text for the markup each chat target parses, within its length limits (pure string work).

The view (notifier.core.phi) already holds single-line, valid Unicode text; what
is left is markup. A unit or reason comes from the EHR and may hold anything.

* Slack mrkdwn (section text, fields, context, the top-level `text`) treats `&`,
  `<` and `>` as control characters: `<!channel>` or `<@U123>` would notify people
  and `<https://x|y>` would make a link. Slack's formatting reference asks for
  exactly these three to be written as HTML entities and nothing else, so a unit
  named `A&E` renders as `A&E`. `plain_text` objects (header, button labels) are
  not parsed and are never escaped. A *bold*/_italic_ pair in EHR text only
  changes emphasis, so it is left as is.
* Teams Adaptive Card TextBlock and Fact values parse a Markdown subset (bold,
  italic, lists, `[text](url)` links; no HTML, and mentions need an `entities`
  list we never send). Backslash escapes are honoured by the desktop and web
  clients but shown literally by some mobile clients, so links, the one construct
  that matters for safety, are also broken with an invisible zero-width space
  between `]` and `(`. A leading list marker (`- `, `1. `) is escaped too.

Limits are applied after escaping, cutting the raw text so an entity or an
escape is never split.
"""

from __future__ import annotations

__all__ = ["SLACK_ESCAPES", "TEAMS_SPECIALS", "slack_text", "teams_text"]

ELLIPSIS = "\u2026"
ZERO_WIDTH_SPACE = "\u200b"
SLACK_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
TEAMS_SPECIALS = frozenset("\\*_[]")
"""What the Teams subset turns into markup (emphasis, links, the escape itself); headings, code, tables and
quotes are not part of it, so `#`, `` ` ``, `|` and `>` are left alone (a mobile client that shows escapes
literally would otherwise print `RR \\>= 22`)."""


def _fit(pieces: list[str], limit: int) -> str:
    """Join escaped pieces (one per source character); when over `limit`, keep whole pieces plus an ellipsis."""
    total = sum(len(p) for p in pieces)
    if total <= limit:
        return "".join(pieces)
    kept: list[str] = []
    used = 0
    for piece in pieces:
        if used + len(piece) > limit - 1:
            break
        kept.append(piece)
        used += len(piece)
    return "".join(kept).rstrip("\u200d\ufe0e\ufe0f") + ELLIPSIS


def slack_text(text: str, limit: int = 3000) -> str:
    """`text` for any Slack mrkdwn context: `&`, `<`, `>` as entities, at most `limit` characters."""
    if not any(c in text for c in SLACK_ESCAPES) and len(text) <= limit:
        return text
    return _fit([SLACK_ESCAPES.get(c, c) for c in text], limit)


def teams_text(text: str, limit: int = 2000) -> str:
    """`text` for a Teams TextBlock or Fact value: Markdown specials backslash-escaped, links broken, at most
    `limit` characters."""
    pieces: list[str] = []
    for i, c in enumerate(text):
        if c == "(" and i and text[i - 1] == "]":
            pieces.append(ZERO_WIDTH_SPACE + "(")
        elif c in TEAMS_SPECIALS:
            pieces.append("\\" + c)
        elif c in "-+" and not text[:i].strip():
            pieces.append("\\" + c)  # a leading "- " or "+ " would start a list
        else:
            pieces.append(c)
    if text[:1].isdigit():
        # "1. foo" at the start is an ordered list; escaping the dot keeps the number as written.
        digits = len(text) - len(text.lstrip("0123456789"))
        if text[digits:digits + 1] in (".", ")"):
            pieces[digits] = "\\" + text[digits]
    return _fit(pieces, limit)
