"""The host side of real guests: the endpoints a builder or QA guest talks to as it would on EC2."""
