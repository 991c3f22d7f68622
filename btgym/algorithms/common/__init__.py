"""Building blocks shared by btgym's trainers (SB3's ``common``): policies and encoders
(:mod:`.policies`, :mod:`.encoders`, :mod:`.distributions`), fast rollout actors
(:mod:`.actors`), rollout buffers and return estimators (:mod:`.buffers`), TensorBoard
logging (:mod:`.logger`), atomic checkpoints (:mod:`.checkpoint`), device selection
(:mod:`.device`), seeding (:mod:`.seeding`), env plumbing (:mod:`.envs`,
:mod:`.monitor`) and the SB3 wrapper (:mod:`.sb3`).

Import from the submodules; this package imports nothing on purpose (worker
processes stay light).
"""
