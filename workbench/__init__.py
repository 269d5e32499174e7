"""Take a machine learning model from a notebook to production and keep it healthy there."""

__version__ = "0.1.0"
