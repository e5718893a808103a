"""The `tiergate` command."""
