"""ultralytics' validation thresholds, shared by every task's scorer (cfg/default.yaml: conf None -> 0.001 in val)."""

VAL_CONF = 0.001
VAL_IOU = 0.7
VAL_MAX_DET = 300
