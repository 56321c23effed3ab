"""`regent verify ...`: tools that check a running cluster's promises (serving: no region served twice)."""
