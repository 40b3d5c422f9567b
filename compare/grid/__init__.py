"""The grid and its execution: cells and their keys, sizes and seeds, the coordinator, the workers
that run cells, the executors they run on, and the cost model that orders and forecasts them."""
