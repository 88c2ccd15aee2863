"""A plugin whose import switches network access on for the whole process
(and every test after the one that imports it)."""

import os

os.environ["APP_ALLOW_NETWORK"] = "1"
