"""The ``labctl`` command and the IPython shell (:mod:`labctl.app.cli`,
:mod:`labctl.app.shell`)."""
