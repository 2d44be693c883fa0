"""pytest-pgrig: the chaos plugin module."""
