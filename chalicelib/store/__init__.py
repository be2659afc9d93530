"""The two DynamoDB tables: release records (``records``) and what the triggers remember (``state``)."""
