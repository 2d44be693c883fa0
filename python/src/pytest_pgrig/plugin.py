"""pytest-pgrig: the plugin plugin module."""
