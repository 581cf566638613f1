"""The configuration model lives in ``handlers.config`` (handlers read it, and import nothing from
``bot``); this module re-exports it for the adapters, the command line, tests and benchmarks."""

from handlers.config import *  # noqa: F403
from handlers.config import DEMO_CONFIG, Config, ConfigError, load_config, parse_config  # noqa: F401
