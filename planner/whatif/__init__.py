"""What-if analysis: a YAML scenario with a sweep over any of its fields, run point by point."""
