"""watch stage of escudo: follow live telemetry and run detections continuously (``escudo watch``)."""
