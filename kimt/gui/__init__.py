"""The wizard: KIMT's desktop window over the engine (ttkbootstrap).

`app` builds the window and the controller; one module per page. Nothing
here talks to a server on the Tk thread: `tasks` runs checks in threads and
`run` drives the engine (which has its own worker processes); both hand
their results back through queues drained with `after()`.
"""
