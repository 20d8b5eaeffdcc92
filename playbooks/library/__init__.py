"""The shipped playbooks (YAML files beside this module)."""
