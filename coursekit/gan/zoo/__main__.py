"""``python -m coursekit.gan.zoo``: the loss zoo's command line (:func:`coursekit.gan.zoo.cli.main`)."""
from .cli import main

if __name__ == "__main__":
    main()
