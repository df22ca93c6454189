"""The build's records read back (:func:`builder.record.manifest_read.read_manifest`: the typed manifest reader)."""
