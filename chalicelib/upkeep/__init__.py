"""What runs on its own schedule: the sweeper of leftovers and retention of old releases."""
