"""Shared plumbing for btgym's child processes and ZeroMQ wires.

- :mod:`btgym.comm.wire`: message framing (JSON header + raw array buffers, no pickle).
- :mod:`btgym.comm.endpoints`: private ``ipc://`` / OS-chosen ``tcp://`` endpoints.
- :mod:`btgym.comm.process`: spawning, readiness handshake, parent-death watch, stopping.
- :mod:`btgym.comm.client`: a REQ client where every receive has a timeout and a dead
  child is reported as a named error with its traceback.
- :mod:`btgym.comm.session`: session tokens, size limits, CURVE keys and addresses
  (see ``docs/security.md``).
- :mod:`btgym.comm.remote`: a child's ``btgym.errors`` exception re-raised as itself.
"""
