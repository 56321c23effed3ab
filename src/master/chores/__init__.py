"""The master's background work (DESIGN.md §13): a pure planner per chore and the loop that runs it."""
