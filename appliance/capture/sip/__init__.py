"""SIP: message parsing, transports and the recording server's answers."""
