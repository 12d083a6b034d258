"""escudo: run Splunk ESCU detections on Linux endpoint telemetry, without Splunk."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
