"""The search's choices and its journal's name, importable without Optuna (for `labkit --help`
and for `labkit report`, which only imports Optuna for a search folder).

Example:

>>> SAMPLERS
('tpe', 'random', 'grid')
"""

from __future__ import annotations

__all__ = ["DIRECTIONS", "JOURNAL_FILE", "PRUNERS", "SAMPLERS"]

# The study's journal, in the runs folder: a search folder is a runs folder that has one.
JOURNAL_FILE = "study.journal"
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "none")
DIRECTIONS = ("maximize", "minimize")
