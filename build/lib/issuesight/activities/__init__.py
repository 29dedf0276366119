"""Activities: the only code that does I/O. One class per external system, built once."""
