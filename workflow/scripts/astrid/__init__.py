"""AstrID: the science library behind the AstrID Snakemake workflow.

Every rule script imports from here; nothing in this package imports Snakemake, so each
function can be used and tested on plain arrays, tables and paths.
"""

__version__ = "0.2.0"
