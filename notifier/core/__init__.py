"""Pure decisions of the notifier: no Kafka, no HTTP, no sockets, no wall-clock reads (time is passed in)."""
