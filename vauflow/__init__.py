"""vauflow: VAU-R1 reproduction as a Snakemake workflow; this package holds all the logic."""

__version__ = "0.1.0"
