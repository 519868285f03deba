"""The runtime type checker the suite installs on lnn (conftest.py): beartype, with PEP 484's numeric
tower (an int where a float is annotated is fine, as in Python's own typing rules)."""

from beartype import BeartypeConf, beartype

typechecker = beartype(conf=BeartypeConf(is_pep484_tower=True))
