"""Synthetic datasets for the embedded default: the moving-ball set and VAU-Bench look-alikes."""
