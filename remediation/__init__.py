"""Converge: under --fix, apply the plan's fix for each failed check, safely, then re-check."""
