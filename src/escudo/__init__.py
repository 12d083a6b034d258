"""escudo: run Splunk ESCU detections on Linux endpoint telemetry, without Splunk.

The library is a session (``escudo.Session``) that hunts and searches over log files and returns
what it found (``HuntRun``, ``SearchRun``); the ``escudo`` command is a thin layer over it.
Errors are ``escudo.errors.EscudoError`` and its subclasses.
"""

from __future__ import annotations

from escudo._session import HuntRun, SearchRun, Session

__version__ = "0.1.0"
__all__ = ["HuntRun", "SearchRun", "Session", "__version__"]
