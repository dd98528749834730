"""The developer stack: what `make run` and the tests start on one machine, never part of a worker image.

A local Kafka broker from the jars (broker.py, its CLI broker_cli.py), the `sepsis-alert run` runner and its
supervisor, and the local receiver that stands in for pagers, chat and webhooks.
"""
