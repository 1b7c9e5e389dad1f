"""The contact-center shell: IVR flows, queues and operators over real calls.

:class:`parley.center.shell.ContactCenter` runs the pure IVR interpreter and ACD over one
node's telephony; :mod:`parley.center.live` implements the web layer's seams (click-to-call,
hang-up, transfer, live calls, operator state, queue figures) over it.

The package itself imports nothing: the store, the web layer and the command line use only
its seams (:mod:`parley.center.ports`), and importing them must not load the shell with
telephony and media behind it (over a second at every start of a ``parley`` command).
"""
