"""Telemetry: the write-ahead log (``wal``), the training side (``writer``) and the
delivery agent (``agent``, ``delivery``, ``sync``) that brings it to the tracking store."""
