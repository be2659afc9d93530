"""Facts and rules every layer uses: stream configuration, errors, arch and region names, tags, observability."""
