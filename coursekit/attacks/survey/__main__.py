"""``python -m coursekit.attacks.survey``: the survey's command line (:func:`.cli.main`)."""
from .cli import main

if __name__ == "__main__":
    main()
