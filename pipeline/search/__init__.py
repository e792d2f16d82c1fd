"""Product search: names, observation time, header keywords and sky position.

One description of a search (:class:`ProductSearch`, built and checked by
:func:`build_search` for the API and the CLI alike) becomes one SQL statement
per database (:mod:`.statement`, the only place the dialects differ), and
:func:`search_products` runs it page by page, testing cone candidates
exactly on the sphere (:mod:`.sky`, :mod:`.sphere`). The keyword syntax is
defined in :mod:`.conditions`.
"""

from pipeline.search.conditions import ConditionError, HeaderCondition, Operator, parse_condition
from pipeline.search.criteria import NameMatch, ProductSearch, build_search, parse_instant
from pipeline.search.service import SearchPage, search_products
from pipeline.search.sky import Cone, SkyBox, box_of_product, cone_box

__all__ = [
    "ConditionError",
    "Cone",
    "HeaderCondition",
    "NameMatch",
    "Operator",
    "ProductSearch",
    "SearchPage",
    "SkyBox",
    "box_of_product",
    "build_search",
    "cone_box",
    "parse_condition",
    "parse_instant",
    "search_products",
]
