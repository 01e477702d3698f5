"""Behavioural baselines and drift: how far each action is from how the agent normally acts.

See docs/drift.md.
"""

from warden.behavior.analyser import DriftAnalyser
from warden.behavior.baseline import Baseline
from warden.behavior.drift import DriftMark, DriftResult, DriftSettings, Signal
from warden.behavior.errors import BaselineNotFound, BehaviorError
from warden.behavior.service import BehaviorService

__all__ = [
    "Baseline",
    "BaselineNotFound",
    "BehaviorError",
    "BehaviorService",
    "DriftAnalyser",
    "DriftMark",
    "DriftResult",
    "DriftSettings",
    "Signal",
]
