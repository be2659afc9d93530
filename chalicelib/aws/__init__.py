"""One adapter per AWS service; nothing else in atomic-release makes a boto3 client."""
