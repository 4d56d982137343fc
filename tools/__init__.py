"""Developer tools that are not part of the course package (each module's docstring says what it does)."""
