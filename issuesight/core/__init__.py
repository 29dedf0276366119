"""Cross-cutting basics every layer may use: settings, logging, metrics, text safety."""
