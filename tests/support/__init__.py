"""Helpers shared by the tests: real servers on 127.0.0.1 and audio to feed them."""
