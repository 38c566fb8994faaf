"""Conventions shared by every service's ``metrics.py``.

Names are ``borderwatch_<service>_<thing>_<unit>``; counters end in ``_total``; durations are
``_seconds`` histograms with :data:`LATENCY_BUCKETS`, whose edges include each latency goal
(0.25 s from replay to delivery, 1 s sustained); labels are bounded sets, never ids or URLs.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Info

LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


def register_build_info(registry: CollectorRegistry, service: str, **extra: str) -> Info:
    """``borderwatch_<service>_build_info`` with the package version and any extra fields."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        package_version = version("borderwatch")
    except PackageNotFoundError:
        package_version = "unknown"
    info = Info(f"borderwatch_{service}_build", f"Build of the {service} service.", registry=registry)
    info.info({"version": package_version, **extra})
    return info
