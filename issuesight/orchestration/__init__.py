"""The starter side of the workflows: submitting, deduplicating and scheduling jobs."""
