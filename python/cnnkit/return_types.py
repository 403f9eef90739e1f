"""Named tuples returned by max/min/sort/topk, as ``torch.return_types``."""
from collections import namedtuple

minmax = namedtuple("max", ["values", "indices"])
sort = namedtuple("sort", ["values", "indices"])
topk = namedtuple("topk", ["values", "indices"])
kthvalue = namedtuple("kthvalue", ["values", "indices"])
median = namedtuple("median", ["values", "indices"])
