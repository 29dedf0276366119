"""The `issuesight` command line: argument parsing and thin commands over the layers below."""
