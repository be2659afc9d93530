"""The local runtime: the release state machine on moto, with task Lambdas run in-process and an
instance simulator playing the builder and QA guests. It needs the ``local`` extra (moto); the
package itself imports nothing, so the CLI's other commands run without it."""
