"""`regent chaos`: a chaos monkey for a Regent cluster, in the spirit of HBase's ChaosMonkey.

The parts, each in its module:

- `model`: what the monkey believes about the cluster (which daemons it has killed, how many regions the
  table has, which families it added). Pure: it changes only by the monkey's own choices, so that the
  sequence of actions and targets derives from the seed alone and a run can be replayed.
- `actions`: the registry of action kinds. Each kind says when it may run (`eligible`), picks its target
  and parameters from the random generator (`choose`), says what it changes in the model (`apply`), and
  carries itself out against the cluster (`perform`). A new kind (split, merge, balance, decommission)
  is one class and one `register()` call.
- `policies`: named mixes of action kinds with weights and the interval between actions.
- `plan`: the schedule: seed + policy + duration + initial model -> the timed actions (pure).
- `cluster`: the I/O shell: a `regent local` cluster's daemons (regent.local_state), signals, restarts,
  the Admin SDK.
- `runner`: carries a plan out, logs every action as a JSON line, heals, waits for convergence, sums up.
- `cli`: `regent chaos`.
"""
