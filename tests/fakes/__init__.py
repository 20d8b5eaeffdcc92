"""Fakes at the network edge: local aiohttp servers that speak each vendor's documented API."""
