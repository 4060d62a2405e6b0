"""Settings package: base, test, production."""
