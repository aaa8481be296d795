"""A local simulator of the Visma.net ERP API (see docs/simulator.md)."""

from ml_connector.sim.visma.app import Exchange, Simulator, SimulatorConfig
from ml_connector.sim.visma.faults import Faults, RateLimit
from ml_connector.sim.visma.server import SimulatorOptions, SimulatorServer

__all__ = [
    "Exchange",
    "Faults",
    "RateLimit",
    "Simulator",
    "SimulatorConfig",
    "SimulatorOptions",
    "SimulatorServer",
]
