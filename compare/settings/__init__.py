"""Settings apart from machinery: the learners' defaults by the shape of the data (:mod:`.defaults`),
the grid's presets (:mod:`.presets`) and the cost model's constants (:mod:`.costs`)."""
