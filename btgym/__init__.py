"""btgym: Gymnasium-native reinforcement-learning backtesting on backtrader."""

from btgym.errors import BTgymError

__version__ = "0.1.0"

__all__ = ["BTgymError", "__version__"]
