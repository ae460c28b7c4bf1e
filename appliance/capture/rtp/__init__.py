"""RTP: packets and the per-stream buffer that puts them in order."""
