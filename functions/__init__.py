"""The task Lambdas of the release state machine, one module each: its Chalice registration, its
Powertools decorator (parse, log, trace, count, serialise) and one line into ``chalicelib``.

The deployed handler is ``functions.<task>.handler``: the state machine reaches the logic in one hop."""
