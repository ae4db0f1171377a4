"""Network profiles as plain data: latency model, bandwidth, fault rates, and a seeded sampler.

A profile says what one request costs on the simulated wire. The built-in profiles cite where
their numbers come from; users can write their own in a TOML or JSON file (see `load_profile`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from statistics import NormalDist
from typing import Any

__all__ = [
    "BUILTIN_PROFILES",
    "Draw",
    "FaultKind",
    "FaultRates",
    "LatencyModel",
    "NetworkProfile",
    "ProfileError",
    "Sampler",
    "load_profile",
]

_Z99 = NormalDist().inv_cdf(0.99)


class ProfileError(ValueError):
    """A network profile could not be found, parsed or validated. The message says how to fix it."""


class FaultKind(StrEnum):
    """What the shaping layer does to one request instead of serving it normally."""

    SLOWDOWN = "slowdown"
    """HTTP 503 with S3's `SlowDown` error body."""
    INTERNAL_ERROR = "internal_error"
    """HTTP 500 with S3's `InternalError` error body."""
    RESET = "reset"
    """The connection is reset after part of the response body was sent."""
    SLOW_TAIL = "slow_tail"
    """The response is served normally but its first byte comes 10-50x later than the median."""
    TRUNCATE = "truncate"
    """A 2xx GET keeps its status and full ``Content-Length`` but the body stops part-way and the
    connection is closed cleanly (FIN): the client can tell from ``Content-Length``."""
    SHORT_BODY = "short_body"
    """A 2xx GET whose body is cut part-way *and* whose ``Content-Length`` says the cut length (a
    lying proxy): HTTP cannot tell; only the layout's counts, offsets and hashes can."""
    STALL = "stall"
    """The server accepts the request and never answers; the connection is dropped after
    ``stall_s`` (or when the server stops)."""


@dataclass(frozen=True)
class LatencyModel:
    """Time to first byte of one request: a fixed delay, or a lognormal given its p50 and p99."""

    fixed_ms: float | None = None
    """Every request waits exactly this long (ms). Exclusive with `p50_ms`/`p99_ms`."""
    p50_ms: float | None = None
    """Median of a lognormal first-byte delay (ms)."""
    p99_ms: float | None = None
    """99th percentile of the lognormal first-byte delay (ms); must be >= `p50_ms`."""

    def __post_init__(self) -> None:
        lognormal = (self.p50_ms, self.p99_ms)
        if self.fixed_ms is not None:
            if lognormal != (None, None):
                raise ProfileError(
                    "first_byte: give either fixed_ms, or p50_ms and p99_ms, not both"
                )
            _check_number("first_byte.fixed_ms", self.fixed_ms, low=0.0)
        elif None in lognormal:
            raise ProfileError("first_byte: give fixed_ms, or both p50_ms and p99_ms")
        else:
            _check_number("first_byte.p50_ms", self.p50_ms, low=0.0, low_open=True)
            _check_number("first_byte.p99_ms", self.p99_ms, low=0.0, low_open=True)
            if self.p99_ms < self.p50_ms:  # type: ignore[operator]
                raise ProfileError(
                    f"first_byte: p99_ms ({self.p99_ms}) must be >= p50_ms ({self.p50_ms})"
                )

    @classmethod
    def fixed(cls, ms: float) -> LatencyModel:
        """Every request waits `ms` milliseconds."""
        return cls(fixed_ms=ms)

    @classmethod
    def lognormal(cls, p50_ms: float, p99_ms: float) -> LatencyModel:
        """Lognormal delays with the given median and 99th percentile."""
        return cls(p50_ms=p50_ms, p99_ms=p99_ms)

    def _mu_sigma(self) -> tuple[float, float]:
        assert self.p50_ms is not None and self.p99_ms is not None
        mu = math.log(self.p50_ms)
        return mu, (math.log(self.p99_ms) - mu) / _Z99

    def quantile_ms(self, q: float) -> float:
        """The `q`-quantile (0 < q < 1) of the first-byte delay in ms."""
        if self.fixed_ms is not None:
            return self.fixed_ms
        mu, sigma = self._mu_sigma()
        return math.exp(mu + sigma * NormalDist().inv_cdf(q))

    @property
    def median_ms(self) -> float:
        """The median first-byte delay in ms."""
        return self.fixed_ms if self.fixed_ms is not None else self.p50_ms  # type: ignore[return-value]

    def sample_ms(self, rng: random.Random) -> float:
        """One first-byte delay in ms drawn with `rng`."""
        if self.fixed_ms is not None:
            return self.fixed_ms
        mu, sigma = self._mu_sigma()
        return rng.lognormvariate(mu, sigma)


@dataclass(frozen=True)
class FaultRates:
    """Per-request probabilities of each fault; at most one fault hits a request."""

    slowdown: float = 0.0
    """Probability of an HTTP 503 `SlowDown`."""
    internal_error: float = 0.0
    """Probability of an HTTP 500 `InternalError`."""
    reset: float = 0.0
    """Probability that the connection is reset mid-body."""
    slow_tail: float = 0.0
    """Probability that the first byte is delayed by a multiple of the median (a straggler)."""
    slow_tail_multiplier: tuple[float, float] = (10.0, 50.0)
    """Range (low, high) of the straggler's delay as a multiple of the median first-byte delay."""
    truncate: float = 0.0
    """Probability that a successful GET's body stops short of its ``Content-Length`` (FIN)."""
    short_body: float = 0.0
    """Probability that a successful GET's body is cut with a matching ``Content-Length``."""
    stall: float = 0.0
    """Probability that the server never answers the request."""
    stall_s: float = 30.0
    """How long a stalled request holds its connection before it is dropped (seconds)."""

    def __post_init__(self) -> None:
        _check_number("faults.stall_s", self.stall_s, low=0.0)
        for name in _RATE_FIELDS:
            _check_number(f"faults.{name}", getattr(self, name), low=0.0, high=1.0)
        if self.total > 1.0 + 1e-9:
            raise ProfileError(f"faults: probabilities add up to {self.total:g}; they must be <= 1")
        multiplier = self.slow_tail_multiplier
        if not (isinstance(multiplier, tuple | list) and len(multiplier) == 2):
            raise ProfileError(
                f"faults.slow_tail_multiplier must be a pair [low, high], got {multiplier!r}"
            )
        low, high = multiplier
        _check_number("faults.slow_tail_multiplier[0]", low, low=1.0)
        _check_number("faults.slow_tail_multiplier[1]", high, low=1.0)
        if high < low:
            raise ProfileError(f"faults.slow_tail_multiplier: high ({high}) is below low ({low})")
        object.__setattr__(self, "slow_tail_multiplier", (float(low), float(high)))

    @property
    def total(self) -> float:
        """Probability that a request gets any fault."""
        return float(sum(getattr(self, name) for name in _RATE_FIELDS))


_RATE_FIELDS = (
    "slowdown",
    "internal_error",
    "reset",
    "slow_tail",
    "truncate",
    "short_body",
    "stall",
)
"""The per-request fault probabilities of `FaultRates`, in the sampler's order (new kinds go
last, so existing profiles keep their seeded sequences)."""


@dataclass(frozen=True)
class NetworkProfile:
    """Everything the shaping layer needs to simulate one network."""

    name: str
    """Short identifier, e.g. `s3-standard`."""
    description: str
    """One line for humans."""
    source: str
    """Where the numbers come from (documentation, measurement, or 'assumption')."""
    first_byte: LatencyModel = field(default_factory=lambda: LatencyModel.fixed(0.0))
    """Delay from request arrival to the first response byte."""
    bandwidth_bytes_per_s: float | None = None
    """Per-connection throughput of the response body; None means unlimited."""
    faults: FaultRates = field(default_factory=FaultRates)
    """Injected errors and stragglers."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ProfileError("name must be a non-empty string")
        for name in ("description", "source"):
            if not isinstance(getattr(self, name), str):
                raise ProfileError(f"{name} must be a string")
        if self.bandwidth_bytes_per_s is not None:
            _check_number("bandwidth_bytes_per_s", self.bandwidth_bytes_per_s, 0.0, low_open=True)

    def transfer_ms(self, size: int) -> float:
        """Time to send `size` body bytes on one connection at the profile's bandwidth (ms)."""
        if self.bandwidth_bytes_per_s is None:
            return 0.0
        return 1000.0 * size / self.bandwidth_bytes_per_s

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, accepted back by `from_dict` (bandwidth None means unlimited)."""
        data = dataclasses.asdict(self)
        data["faults"]["slow_tail_multiplier"] = list(self.faults.slow_tail_multiplier)
        data["first_byte"] = {k: v for k, v in data["first_byte"].items() if v is not None}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, default_name: str = "") -> NetworkProfile:
        """Build and validate a profile from `to_dict`/TOML/JSON data; raises `ProfileError`."""
        if not isinstance(data, Mapping):
            raise ProfileError(f"a profile must be a table/object, got {type(data).__name__}")
        _check_keys("profile", data, {f.name for f in dataclasses.fields(cls)} | {"extends"})
        data = dict(data)
        if "extends" in data:
            base = load_profile(_expect_str("extends", data.pop("extends"))).to_dict()
            del base["name"]
            data = _merge(base, data)
        first_byte = data.get("first_byte", {"fixed_ms": 0.0})
        faults = data.get("faults", {})
        for section, value in (("first_byte", first_byte), ("faults", faults)):
            if not isinstance(value, Mapping):
                raise ProfileError(f"[{section}] must be a table/object, got {value!r}")
        _check_keys("first_byte", first_byte, {"fixed_ms", "p50_ms", "p99_ms"})
        _check_keys("faults", faults, {f.name for f in dataclasses.fields(FaultRates)})
        if "slow_tail_multiplier" in faults:
            faults = {**faults, "slow_tail_multiplier": tuple(faults["slow_tail_multiplier"])}
        return cls(
            name=data.get("name", default_name),
            description=data.get("description", ""),
            source=data.get("source", "user-defined"),
            first_byte=LatencyModel(**first_byte),
            bandwidth_bytes_per_s=data.get("bandwidth_bytes_per_s"),
            faults=FaultRates(**faults),
        )


@dataclass(frozen=True)
class Draw:
    """What the network does to one request."""

    first_byte_s: float
    """Delay from request arrival to the first response byte, in seconds."""
    fault: FaultKind | None
    """The injected fault, or None for a normal response."""
    reset_fraction: float
    """For `FaultKind.RESET`, `TRUNCATE` and `SHORT_BODY`: the share of the body sent before the
    connection is cut."""


class Sampler:
    """Seeded, thread-safe source of per-request draws: the same (profile, seed) gives the same
    sequence of draws. Under concurrency the sequence is fixed but which request gets which draw
    depends on arrival order."""

    def __init__(self, profile: NetworkProfile, seed: int = 0) -> None:
        self.profile = profile
        self.seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self) -> Draw:
        """The next draw. Always consumes the same random numbers per call, whatever the outcome."""
        profile = self.profile
        faults = profile.faults
        with self._lock:
            delay_ms = profile.first_byte.sample_ms(self._rng)
            u = self._rng.random()
            multiplier = self._rng.uniform(*faults.slow_tail_multiplier)
            reset_fraction = self._rng.random()
        fault: FaultKind | None = None
        for name in _RATE_FIELDS:
            rate = getattr(faults, name)
            if u < rate:
                fault = FaultKind(name)
                break
            u -= rate
        if fault is FaultKind.SLOW_TAIL:
            delay_ms = profile.first_byte.median_ms * multiplier
        return Draw(first_byte_s=delay_ms / 1000.0, fault=fault, reset_fraction=reset_fraction)


def load_profile(profile: str | os.PathLike[str] | NetworkProfile) -> NetworkProfile:
    """A built-in profile by name, or a profile read from a `.toml` or `.json` file.

    A file holds the `NetworkProfile` fields at top level (`name`, `description`, `source`,
    `bandwidth_bytes_per_s`, tables `[first_byte]` and `[faults]`); `extends = "s3-standard"`
    starts from a built-in and overrides only the given fields. Raises `ProfileError`.
    """
    if isinstance(profile, NetworkProfile):
        return profile
    text = os.fspath(profile)
    if text in BUILTIN_PROFILES:
        return BUILTIN_PROFILES[text]
    path = Path(text)
    if path.suffix.lower() not in (".toml", ".json") and not path.exists():
        raise ProfileError(
            f"unknown network profile {text!r}: built-ins are {', '.join(BUILTIN_PROFILES)}; "
            "or give the path of a .toml or .json profile file"
        )
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ProfileError(f"cannot read profile file {text!r}: {error.strerror}") from error
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(raw)
        else:
            data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise ProfileError(f"profile file {text!r} is not valid {kind}: {error}") from error
    try:
        return NetworkProfile.from_dict(data, default_name=path.stem)
    except ProfileError as error:
        raise ProfileError(f"profile file {text!r}: {error}") from error
    except TypeError as error:
        raise ProfileError(f"profile file {text!r}: {error}") from error


# --- validation helpers --------------------------------------------------------------------------


def _check_number(
    name: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
) -> None:
    """Raise `ProfileError` unless `value` is a finite real number within bounds."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low  # type: ignore[operator]
    if ok and high is not None:
        ok = value <= high  # type: ignore[operator]
    if not ok:
        if low is not None and high is not None:
            bounds = f"between {low:g} and {high:g}"
        elif low is not None:
            bounds = f"{'>' if low_open else '>='} {low:g}"
        else:
            bounds = "that is finite"
        raise ProfileError(f"{name} must be a number {bounds}, got {value!r}")


def _check_keys(section: str, data: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ProfileError(
            f"unknown field {unknown[0]!r} in {section}; expected one of: {', '.join(sorted(allowed))}"
        )


def _expect_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ProfileError(f"{name} must be a string, got {value!r}")
    return value


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `override` applied; `faults` are merged field by field, `first_byte` is
    replaced as a whole (a fixed delay and a lognormal do not mix)."""
    merged = {**base, **override}
    if isinstance(override.get("faults"), Mapping):
        merged["faults"] = {**base["faults"], **override["faults"]}
    return merged


# --- built-in profiles ---------------------------------------------------------------------------

_S3_PERF = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html"
_S3_WHITEPAPER = (
    "https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices"
)
_S3_STANDARD_SOURCE = (
    f"AWS S3 performance guidelines: small-object and first-byte latencies of roughly 100-200 ms "
    f"({_S3_PERF}); median latencies of small requests 'often in the tens of milliseconds' "
    f"({_S3_WHITEPAPER}/timeouts-and-retries-for-latency-sensitive-applications.html); one "
    f"request per 85-90 MB/s of throughput "
    f"({_S3_WHITEPAPER}/horizontal-scaling-and-request-parallelization-for-high-throughput.html). "
    "Modelled as lognormal p50 20 ms / p99 150 ms and 90 MB/s per connection."
)
_S3_STANDARD = NetworkProfile(
    name="s3-standard",
    description="Same-region S3 Standard from EC2",
    source=_S3_STANDARD_SOURCE,
    first_byte=LatencyModel.lognormal(p50_ms=20.0, p99_ms=150.0),
    bandwidth_bytes_per_s=90e6,
)

BUILTIN_PROFILES: dict[str, NetworkProfile] = {
    p.name: p
    for p in (
        NetworkProfile(
            name="none",
            description="The raw server over loopback: no added latency, bandwidth or faults",
            source="No simulation; what remains is HTTP, server and client CPU overhead.",
        ),
        NetworkProfile(
            name="seed",
            description="Fixed 150 ms per request, unlimited bandwidth",
            source="The project's original design notes: 1000 segments x ~150 ms per request.",
            first_byte=LatencyModel.fixed(150.0),
        ),
        _S3_STANDARD,
        NetworkProfile(
            name="s3-express",
            description="S3 Express One Zone, same AZ",
            source=(
                "AWS: 'consistent single-digit millisecond first-byte read and write request "
                "latencies' (https://docs.aws.amazon.com/AmazonS3/latest/userguide/"
                "s3-express-performance.html). Modelled as lognormal p50 2 ms / p99 8 ms. "
                "Per-connection bandwidth is not documented: assumed equal to S3 Standard (90 MB/s)."
            ),
            first_byte=LatencyModel.lognormal(p50_ms=2.0, p99_ms=8.0),
            bandwidth_bytes_per_s=90e6,
        ),
        NetworkProfile(
            name="cross-region",
            description="S3 in another region (e.g. us-east-1 client, eu-west-1 bucket)",
            source=(
                "Assumption: inter-region round trip ~70-80 ms (us-east-1 <-> eu-west-1) on top of "
                "S3's own latency; lognormal p50 80 ms / p99 250 ms. Per-connection bandwidth "
                "assumed 40 MB/s (TCP over a long round trip). Calibrate against your own links."
            ),
            first_byte=LatencyModel.lognormal(p50_ms=80.0, p99_ms=250.0),
            bandwidth_bytes_per_s=40e6,
        ),
        dataclasses.replace(
            _S3_STANDARD,
            name="faulty",
            description=(
                "s3-standard plus 503 SlowDown, 500 InternalError, resets, truncated and short "
                "bodies, stragglers and stalled requests"
            ),
            source=(
                "s3-standard numbers; fault rates are an assumption chosen to exercise retries "
                "(AWS documents 503 SlowDown while a prefix scales and advises retrying the "
                "slowest requests)."
            ),
            faults=FaultRates(
                slowdown=0.03,
                internal_error=0.01,
                reset=0.01,
                slow_tail=0.02,
                slow_tail_multiplier=(10.0, 50.0),
                truncate=0.01,
                short_body=0.01,
                stall=0.002,
                stall_s=30.0,
            ),
        ),
    )
}
