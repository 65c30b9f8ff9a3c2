"""AutoHAS (seed 000): supernet, controller, temporary weights, and the search strategy."""

from hasearch.autohas.controller import Controller
from hasearch.autohas.strategy import AutoHAS, AutoHASOptions
from hasearch.autohas.supernet import BNMode, FixedNetwork, MBConvSupernet, recalibrate_bn

__all__ = ["AutoHAS", "AutoHASOptions", "BNMode", "Controller", "FixedNetwork", "MBConvSupernet", "recalibrate_bn"]
