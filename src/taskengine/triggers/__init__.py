"""Schedule timers, event watches and incoming webhooks: they produce occurrences."""
