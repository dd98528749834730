"""Thin adapters: Kafka in/out, the notification-log / acks / silences topics, the HTTP API."""
