"""The build in the container: ``run.run_build`` runs ``stages/`` (export, build, verify,
evaluate, benchmark, publish) under the stage contract of ``stage_types``; the resource estimate before it and
the interrupted-build cleanup after it. Never imports ``docker``.
"""
