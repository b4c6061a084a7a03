"""Build shim: all metadata lives in setup.cfg."""

import os

from setuptools import setup

# The editable install puts plugin/ on sys.path: metadata written there would be a second amlflow
# distribution, and Airflow would load the amlflow plugin twice. Keep it in build/ instead.
os.makedirs("build", exist_ok=True)
setup(options={"egg_info": {"egg_base": "build"}})
