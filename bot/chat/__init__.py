"""Chat: platform adapters (Slack, Discord) and the neutral message types they translate."""
