"""The REST API: submit issues, read tutorials. It never waits on GitHub or the LLM."""
