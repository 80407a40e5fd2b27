"""Figures for files: matplotlib's Figure with the Agg canvas, never pyplot, so drawing a plot never
switches the backend of a user who imported archgan into their own program or notebook."""
from __future__ import annotations

from typing import Any


def new_figure(**options: Any):
    """A matplotlib Figure (options as Figure's, e.g. figsize) that `savefig` writes through Agg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(**options)
    FigureCanvasAgg(figure)
    return figure
