"""pytest-pgrig: real PostgreSQL for every pytest test, through the project's pgrig."""

__version__ = "0.1.0"
