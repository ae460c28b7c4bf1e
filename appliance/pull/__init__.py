"""Pulling recordings from devices (manual 4.1, 录音抓取): runs, tests, the scheduler's job."""
