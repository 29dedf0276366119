"""The product's own vocabulary, import-light (the workflow sandbox re-imports it)."""
