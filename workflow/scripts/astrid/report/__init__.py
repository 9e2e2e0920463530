"""The night's report: one module per section (night summary, calibration, difference
imaging, real/bogus, alerts, the model's history, operations), each making the tables
and figures that ``snakemake --report`` shows.

Figures are drawn off-screen (matplotlib's Agg backend), chosen here, before any section
imports pyplot.
"""

import matplotlib

matplotlib.use("Agg")
