"""Primary and standby: sync, heartbeat and takeover."""
