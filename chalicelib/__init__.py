"""atomic-release's Lambda code, in layers that import downwards only:

core (config, errors, arch and region facts, observability) -> models -> aws (one adapter per
service) -> store (the releases and trigger-state tables) -> ostree, guest -> stages (one module
per stage of the release flow) -> triggers, upkeep, api."""
