"""This host: GPU discovery, the environment recorded in the manifest, whether a profile is
buildable here, and ``doctor`` (the report of all three).
"""
