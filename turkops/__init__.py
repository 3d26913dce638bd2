"""turkops: crowdsourced evaluation of neuron explanations (MG-IS sampling + BRAgg aggregation)."""

__version__ = "0.1.0"
