"""The service's one endpoint, read by moto's BaseBackend.urls (from the urls module beside the
backend's models module, as for moto's own services)."""

from atomic_release.local.marketplace_catalog.constants import SERVICE_URL
from atomic_release.local.marketplace_catalog.responses import MarketplaceCatalogResponse

url_bases = [SERVICE_URL]

url_paths = {"{0}/[A-Za-z]+$": MarketplaceCatalogResponse.dispatch}
