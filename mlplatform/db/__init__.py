"""Database backends: Django's own, with what this server's request pattern needs."""
