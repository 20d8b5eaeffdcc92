"""Playbook engine and the shipped playbook library."""
