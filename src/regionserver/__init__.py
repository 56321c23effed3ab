"""The RegionServer daemon. Only the CLI imports it."""
