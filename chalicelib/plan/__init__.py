"""Before a release: how long it will take and what it will cost."""
