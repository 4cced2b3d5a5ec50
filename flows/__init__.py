"""Prefect flows: thin wrappers that run the library's stages as tasks."""

from flows.lifetime import follow_serve

# A flow-run child of `monitor serve` imports this package while Prefect loads its flow (the
# one place every flow run passes): from here on it ends as soon as serve is gone, even
# before the flow body runs.
follow_serve()
