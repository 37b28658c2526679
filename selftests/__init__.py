"""Self-tests of the compliance suite (no lab needed for unit/)."""
