"""Shared core: atomic writes, errors, provenance, device choice, image I/O."""
