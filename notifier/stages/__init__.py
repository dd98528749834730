"""One module per pipeline stage: route, silence, dedup, throttle, send, retry, record_sent."""
