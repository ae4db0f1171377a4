"""How bytes arrive: one ``Transport`` per storage client, all with the same ``get``/``get_many``."""

from contexts.transport.base import ByteRequest, Transport

__all__ = ["ByteRequest", "Transport"]
