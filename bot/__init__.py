"""soarbot: a ChatOps SOAR bot."""

__version__ = "0.1.0"
