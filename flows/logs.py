"""Send the library's own logs (logging.getLogger("monitor...")) to the Prefect UI.

Prefect attaches its API handler to every logger named in PREFECT_LOGGING_EXTRA_LOGGERS
(prefect.yaml sets it to "monitor" for deployments, `monitor serve` sets it too) but leaves
their level alone, so INFO records would stop at the root logger's WARNING. Giving those
loggers the level of Prefect's own "prefect.extra" logger lets them through.
"""

from __future__ import annotations

import logging

from prefect.settings import PREFECT_LOGGING_EXTRA_LOGGERS


def forward_library_logs() -> None:
    """Give each extra logger without a level of its own the level Prefect uses for them."""
    level = logging.getLogger("prefect.extra").getEffectiveLevel()
    for name in PREFECT_LOGGING_EXTRA_LOGGERS.value():
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(level)
