"""Threat-intel and response connectors, one package per vendor."""
