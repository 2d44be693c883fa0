"""pytest-pgrig: the report plugin module."""
