"""An occurrence becomes a TaskLog, and the TaskLog a finished run: retries, timeout, concurrency."""
