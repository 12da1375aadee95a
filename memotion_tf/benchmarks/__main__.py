"""`python -m memotion_tf.benchmarks`: see `run`."""

import sys

from memotion_tf.benchmarks.run import main

sys.exit(main())
