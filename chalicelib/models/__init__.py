"""Models at every boundary of the release flow, one module per concern. Field names are the
JSON the state machine carries and the release record stores; import each name from the
module that defines it:

base (the strict base model) -> release (the release input, its commits, run names and
Prepare's plan of architectures) and failure (what a Catch hands on, what a Fail state raises)
-> build, regions, marketplace -> announce, record -> prepare, finalize (the tasks that begin
and end a release); poll (what the poller remembers of a stream) stands apart."""
