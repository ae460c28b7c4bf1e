"""The call-recording appliance."""

__version__ = "0.1.0"
