"""iraq-troop-monitor: news monitoring of the US / coalition troop presence in Iraq."""

__version__ = "0.1.0"
