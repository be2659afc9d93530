"""The maintainers' API and page: list, show, trigger, retry and abort releases."""
