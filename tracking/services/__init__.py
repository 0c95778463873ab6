"""Writes of the tracking domain, one module per entity (see STYLE.md)."""
