"""``verify``: a published build folder (``artifact``) or a bundle (``bundle``), the checks both
share (``checks``) and the host go / no-go (``compat``).
"""
