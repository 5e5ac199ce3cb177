"""Keeps each object's status true: validates what the schema cannot, resolves references."""
