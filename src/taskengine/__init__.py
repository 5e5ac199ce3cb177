"""taskengine: a Kubernetes-native task engine."""

__version__ = "0.1.0"
