"""IssueSight: context bridges from GitHub issues, on durable Temporal workflows."""

__version__ = "0.1.0"
