"""The playbook engine: load, validate, dispatch and run playbooks with durable approval gates."""
