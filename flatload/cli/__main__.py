"""``python -m flatload.cli``."""
from .main import main

main()
