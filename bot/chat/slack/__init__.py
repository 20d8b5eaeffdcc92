"""Slack adapter: the only importer of slack_bolt / slack_sdk; Block Kit rendering lives in ``render``."""
