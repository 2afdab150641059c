"""In-memory stand-ins for the external services Ruang talks to (for unit tests)."""
