"""Unit self-tests: parsers, settings, facts, evidence, rendering and safe change."""
