"""Command-line entry points: each parses arguments, calls the library, writes files."""
