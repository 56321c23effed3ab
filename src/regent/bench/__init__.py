"""Benchmarks (`regent bench ...`): each prints one JSON object and measures its own floor in the same run."""
