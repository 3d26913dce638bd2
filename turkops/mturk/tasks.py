"""Task packing moved to turkops.tasks (every provider packs the same way); kept as an alias."""

from turkops.tasks import SampleItem, Task, pack_tasks, request_token

__all__ = ["SampleItem", "Task", "pack_tasks", "request_token"]
