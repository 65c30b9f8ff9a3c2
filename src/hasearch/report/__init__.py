"""Reports of runs: ``hasearch report`` (:mod:`hasearch.report.html`) and its figures."""

from hasearch.report.html import write_report

__all__ = ["write_report"]
