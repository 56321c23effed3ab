"""The SDK: Connection, Admin, region location cache, retries. Reached through `regent.connect()`."""
