"""A local, offline simulator of the part of Prolific's REST API v1 that turkops uses.

Same paths, JSON shapes, statuses, pagination and error bodies as Prolific; simulated
participants (participants.py) take the study on the real turkops task server through its
HTML forms and report their completion codes back here, as real participants would.
"""

from turkops.prolific_sim.server import RunningSimulator, start_simulator
from turkops.prolific_sim.state import SimFaults, SimState

__all__ = ["RunningSimulator", "SimFaults", "SimState", "start_simulator"]
