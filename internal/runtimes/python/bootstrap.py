"""Starts Lambent's runtime interface client for Python: `python3 bootstrap.py`.

The client lives in modules beside this file so that Python can cache their bytecode
(__pycache__, written when Lambent installs them); a script run as __main__ is compiled anew
on every start.
"""

import _lambent_ric

_lambent_ric.main()
