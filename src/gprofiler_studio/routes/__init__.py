"""Studio's HTTP routes, one router per concern: ingest (agents), queries (the JSON API), the web UI."""
