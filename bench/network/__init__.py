"""The simulated network: profiles (plain data), the shaping middleware and the embedded S3 server."""

from __future__ import annotations

from bench.network.profiles import (
    BUILTIN_PROFILES,
    Draw,
    FaultKind,
    FaultRates,
    LatencyModel,
    NetworkProfile,
    ProfileError,
    Sampler,
    load_profile,
)
from bench.network.server import S3Server, ServerError
from bench.network.shaping import InjectedReset, ShapingMiddleware

__all__ = [
    "BUILTIN_PROFILES",
    "Draw",
    "FaultKind",
    "FaultRates",
    "InjectedReset",
    "LatencyModel",
    "NetworkProfile",
    "ProfileError",
    "S3Server",
    "Sampler",
    "ServerError",
    "ShapingMiddleware",
    "load_profile",
]
