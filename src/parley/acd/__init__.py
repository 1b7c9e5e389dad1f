"""The ACD: operators, queues and routing as a pure, sans-IO core (see docs/acd.md)."""
