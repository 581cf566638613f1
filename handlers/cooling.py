"""The cooling flow. (Not built yet: see its issue.)"""

from handlers.registry import Flow

FLOW = Flow(name="cooling")
