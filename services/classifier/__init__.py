"""The classifier service.

The tagging core may run compiled (mypyc, ``make native``) or as the Python sources; see
:mod:`services.classifier.native` for which one is used and when.
"""

import os

from services.classifier.native import search_path

# Decided once, before any tagging module is imported: compiled and pure modules must not mix.
__path__ = search_path(__path__, os.environ)
