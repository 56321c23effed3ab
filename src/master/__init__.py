"""The master daemon: election, meta, assignment, liveness. Only the CLI imports it."""
