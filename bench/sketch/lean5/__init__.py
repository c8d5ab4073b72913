"""lean5: a sizing sketch of issue 11's frugal core (bench/sketch/README.md)."""
