"""relucc: compile Boolean circuits and local PRGs into exact, certified ReLU networks."""

__version__ = "0.1.0"
