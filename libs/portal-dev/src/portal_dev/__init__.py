"""Local development and test harness for the portal: real servers from PyPI wheels
(``servers``), the process registry (``services``), ``make run`` (``run``), the demo
seed (``seed``) and the pytest plugin (``testing``)."""
