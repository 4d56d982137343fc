"""``python -m coursekit.pretrain NAME [--quick] [--out DIR]``: see :mod:`coursekit.pretrain`."""
from . import main

main()
