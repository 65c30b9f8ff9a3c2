"""AutoHAS (seed 000): controller, temporary weights, and the search strategy (on the
weight-sharing foundation of :mod:`hasearch.supernet`)."""

from hasearch.autohas.controller import Controller
from hasearch.autohas.strategy import AutoHAS, AutoHASOptions

__all__ = ["AutoHAS", "AutoHASOptions", "Controller"]
