"""The contact-center shell: IVR flows, queues and operators over real calls.

:class:`ContactCenter` runs the pure IVR interpreter and ACD over one node's telephony;
:mod:`parley.center.live` implements the web layer's seams (click-to-call, hang-up, transfer,
live calls, operator state, queue figures) over it.
"""

from parley.center.config import CenterConfig, QueuePolicy, load_center_config
from parley.center.shell import ContactCenter

__all__ = ["CenterConfig", "ContactCenter", "QueuePolicy", "load_center_config"]
