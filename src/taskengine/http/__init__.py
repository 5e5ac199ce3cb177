"""The operator's HTTP endpoints: incoming webhook triggers (metrics, REST API and dashboard to come)."""
