"""engines stage of escudo (see docs/architecture.md)."""
