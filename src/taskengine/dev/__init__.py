"""A local control plane for development and tests: `taskengine dev up|down|env`."""
