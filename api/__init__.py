"""ZMQ server, client and streaming dataset (planned: API issue)."""
