"""Figures (the paper's plots) and run reports."""
