"""Logging: stderr plus a size-rotated log file, one format for both."""

import logging
import logging.handlers
import os
import sys

_FORMAT = "[%(asctime)s] %(levelname)s: %(name)s: %(message)s"


def setup_logging(*, verbose: bool, log_file: str, max_bytes: int, backup_count: int) -> None:
    """Configure the `gprofiler` logger; a log file that cannot be opened is reported, not fatal."""
    logger = logging.getLogger("gprofiler")
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(_FORMAT)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(formatter)
    logger.addHandler(stderr)
    if not log_file:
        return
    try:
        directory = os.path.dirname(os.path.abspath(log_file))
        os.makedirs(directory, mode=0o755, exist_ok=True)
        to_file = logging.handlers.RotatingFileHandler(log_file, maxBytes=max_bytes, backupCount=backup_count)
    except OSError as error:
        logger.warning("cannot write the log file %s (%s); logging to stderr only", log_file, error)
        return
    to_file.setFormatter(formatter)
    logger.addHandler(to_file)
