"""What the log level setting (1 to 5) means for the processes' loggers."""

from __future__ import annotations

import logging

# (the appliance's own loggers, everyone else's: uvicorn, Pony, asyncio…). 3 is what
# every process logged before the setting took effect; 4 adds the appliance's own
# detail without the libraries', 5 adds theirs too.
LEVELS: dict[int, tuple[int, int]] = {
    1: (logging.ERROR, logging.ERROR),
    2: (logging.WARNING, logging.WARNING),
    3: (logging.INFO, logging.INFO),
    4: (logging.DEBUG, logging.INFO),
    5: (logging.DEBUG, logging.DEBUG),
}


def python_levels(setting: int) -> tuple[int, int]:
    """The logging levels for a setting; out-of-range values are clamped to 1..5."""
    return LEVELS[min(5, max(1, setting))]
