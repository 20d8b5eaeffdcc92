"""Platform-neutral chat commands (``/soar ...``)."""
