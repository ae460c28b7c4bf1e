"""Capture: the SIPREC server and its RTP receivers."""
