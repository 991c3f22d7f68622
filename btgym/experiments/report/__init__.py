"""Offline HTML reports of registry runs (:func:`build_report`)."""

from btgym.experiments.report.html import build_report

__all__ = ["build_report"]
