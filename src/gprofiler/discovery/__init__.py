"""Finding processes and what runs in them, from /proc (or a host /proc mounted elsewhere)."""
