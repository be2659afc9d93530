from tests.http_fakes import credentials  # noqa: F401 - the fixture, for the API client's tests
