"""``python -m keras_fsq.cli``: the ``keras-fsq`` command."""

import sys

from keras_fsq.cli import main

sys.exit(main())
