"""The comparison stage: the task × method × size × seed grid, the results store, metrics, tables
and plots."""
