"""STAC for the published maps: items and collection, the static catalog, the pgstac API, search."""

from stac.items import COLLECTION, item_id
from stac.publish import PublishReport, publish
from stac.search import api_url, search
from stac.validate import InvalidStac, validate

__all__ = ["COLLECTION", "InvalidStac", "PublishReport", "api_url", "item_id", "publish", "search",
           "validate"]
