"""Durable workflows. Modules here import nothing with side effects (see contracts.py)."""
